package kafka

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"happychat/schemas"
)

// TestGrantsLeastPrivilege checks the ACL table's promises
// (docs/adr/0006-kafka-principals.md) row by row; TestSecuredKafka* in
// cmd/happychat show the brokers enforce them.
func TestGrantsLeastPrivilege(t *testing.T) {
	n := schemas.NamesFor("x")
	p := DefaultPrincipals
	grants := Grants(n, p)
	may := func(user string, typ kmsg.ACLResourceType, name string, op kadm.ACLOperation) bool {
		return slices.ContainsFunc(grants, func(g Grant) bool {
			return g.User == user && g.Resource == typ && slices.Contains(g.Ops, op) &&
				(g.Name == name || g.Prefixed && len(name) >= len(g.Name) && name[:len(g.Name)] == g.Name)
		})
	}
	topic, group, txn := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId
	everyone := []string{p.Command, p.Projector, p.Realtime, p.Query}

	for _, ev := range []string{n.Rooms, n.Users} {
		for _, u := range everyone {
			if got, want := may(u, topic, ev, kadm.OpWrite), u == p.Command; got != want {
				t.Errorf("%s may write %s: %v, want %v", u, ev, got, want)
			}
		}
	}
	needs := []struct {
		user string
		typ  kmsg.ACLResourceType
		name string
		op   kadm.ACLOperation
	}{
		{p.Command, topic, n.Rooms, kadm.OpRead},
		{p.Command, group, n.CommandGroup, kadm.OpRead},
		{p.Command, txn, n.CommandGroup + ".p0", kadm.OpWrite},
		{p.Command, txn, n.CommandGroup + ".p511", kadm.OpWrite},
		// the instance transactions (docs/adr/0011), its own and another's
		{p.Command, txn, n.CommandGroup + ".i@10.0.0.7:8081", kadm.OpWrite},
		{p.Command, txn, n.CommandGroup + ".i@10.0.0.7:8081", kadm.OpDescribe},
		{p.Projector, topic, n.Rooms, kadm.OpRead},
		{p.Projector, topic, n.Users, kadm.OpRead},
		{p.Projector, group, n.ProjectorPostgresGroup, kadm.OpRead},
		{p.Projector, group, n.ProjectorClickHouseGroup, kadm.OpRead},
		{p.Projector, topic, n.Features, kadm.OpWrite},
		{p.Realtime, topic, n.Rooms, kadm.OpRead},
		{p.Realtime, topic, n.Features, kadm.OpWrite},
		// the revocations' tails (ADR 0007)
		{p.Command, topic, n.Users, kadm.OpRead},
		{p.Realtime, topic, n.Users, kadm.OpRead},
		{p.Query, topic, n.Users, kadm.OpRead},
	}
	for _, nd := range needs {
		if !may(nd.user, nd.typ, nd.name, nd.op) {
			t.Errorf("%s may not %s %s %s", nd.user, nd.op, nd.typ, nd.name)
		}
	}
	refused := []struct {
		user string
		typ  kmsg.ACLResourceType
		name string
		op   kadm.ACLOperation
	}{
		{p.Query, topic, n.Rooms, kadm.OpRead},                   // query reads the views, not the log
		{p.Query, topic, n.Features, kadm.OpWrite},               // nor advertises a level
		{p.Realtime, txn, n.CommandGroup + ".p0", kadm.OpWrite},  // nor fences an owner
		{p.Projector, txn, n.CommandGroup + ".p0", kadm.OpWrite}, // nor does a projector
		{p.Realtime, txn, n.CommandGroup + ".i@h:1", kadm.OpWrite},
		{p.Realtime, group, n.CommandGroup, kadm.OpRead}, // nor joins the owners' group
		{p.Projector, group, n.CommandGroup, kadm.OpRead},
		{p.Command, topic, n.Features, kadm.OpWrite}, // command advertises in PostgreSQL
		{p.Command, txn, "x.other", kadm.OpWrite},
	}
	for _, r := range refused {
		if may(r.user, r.typ, r.name, r.op) {
			t.Errorf("%s may %s %s %s", r.user, r.op, r.typ, r.name)
		}
	}
	for _, g := range grants {
		if slices.Contains(g.Ops, kadm.OpAll) || slices.Contains(g.Ops, kadm.OpCreate) || slices.Contains(g.Ops, kadm.OpAlter) {
			t.Errorf("%s: a service needs no ALL, CREATE or ALTER", g)
		}
		if g.Prefixed && g.Resource != txn {
			t.Errorf("%s: only the owners' transactional ids are a prefix", g)
		}
	}
}
