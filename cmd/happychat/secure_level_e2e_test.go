package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"happychat/cmd/internal/kafka"
	"happychat/query/openapi"
)

// TestSecuredLevel6WaitsForTheInstanceGrant: on brokers with ACLs a
// command instance whose principal may not use its instance transactional
// id advertises level 5, so `happychat features --set 6` is refused (and
// says to run `happychat acls`) instead of stopping every write; once the
// grant is there the instance advertises 6 within a lease renewal, the
// raise goes through and the instance writes through its instance
// transaction (command/instance_grant.go).
func TestSecuredLevel6WaitsForTheInstanceGrant(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := newSecured(t, ctx, true)
	admin := s.as(secureAdmin)
	if out, err := runTool(ctx, s.base, "migrate"); err != nil {
		t.Fatalf("happychat migrate: %v\n%s", err, out)
	}
	// The grant `happychat acls` made for the instance ids goes.
	adm := kadm.NewClient(s.client(t, s.auth(t, secureAdmin)))
	res, err := adm.DeleteACLs(ctx, kadm.NewACLs().TransactionalIDs(s.names.CommandGroup+".i@").
		ResourcePatternType(kadm.ACLPatternPrefixed).Allow().AllowHosts().Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("delete the instance ids' grant: %v", r.Err)
		}
		deleted += len(r.Deleted)
	}
	if deleted == 0 {
		t.Fatal("`happychat acls` made no grant on the instance transactional ids")
	}

	cmdBase := "http://" + runServing(t, "command", s.as(kafka.DefaultPrincipals.Command))
	eventually(t, "the instance advertises level 5", func() error {
		out, err := runTool(ctx, admin, "features")
		if err != nil {
			return err
		}
		if !strings.Contains(out, ": understands up to 5\n") {
			return fmt.Errorf("features says:\n%s", out)
		}
		return nil
	})
	out, err := runTool(ctx, admin, "features", "--set", "6")
	if err == nil || !strings.Contains(err.Error(), "happychat acls") {
		t.Fatalf("features --set 6 without the grant: %v, want a refusal naming `happychat acls`\n%s", err, out)
	}
	if out, err := runTool(ctx, admin, "features"); err != nil || !strings.Contains(out, "cluster feature level: 1 ") {
		t.Fatalf("the level moved after a refused raise: %v\n%s", err, out)
	}

	if out, err := runTool(ctx, admin, "acls"); err != nil {
		t.Fatalf("happychat acls: %v\n%s", err, out)
	}
	eventually(t, "features --set 6 once the grant is back", func() error {
		_, err := runTool(ctx, admin, "features", "--set", "6")
		return err
	})

	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &rtDev{devSystem: &devSystem{t: t, base: cmdBase, doc: doc}}
	room := cmd.openRoom("level six")
	alice := cmd.member(room, "alice")
	// The instance reads the raised level at its next lease renewal; a
	// send after that goes through the instance's transaction.
	eventually(t, "the instance at level 6", func() error {
		lv, err := rtMetric(cmdBase, "happychat_command_feature_level")
		if err == nil && lv != 6 {
			err = fmt.Errorf("level %v", lv)
		}
		return err
	})
	cmd.post(room, alice, "through the instance transaction")
	eventually(t, "the send counted in an instance transaction", func() error {
		n, err := rtMetric(cmdBase, "happychat_command_instance_txn_batches_count")
		if err == nil && n == 0 {
			err = errors.New("no instance transaction yet")
		}
		return err
	})
}
