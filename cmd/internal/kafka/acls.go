package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"happychat/schemas"
)

// Principals are the SCRAM users the services authenticate as, one per
// role (docs/adr/0006-kafka-principals.md). The query service has no
// Kafka client, hence no principal.
type Principals struct {
	Command   string
	Projector string
	Realtime  string
	Query     string
}

// DefaultPrincipals are the users deploy/local/kafka-secure.sh creates.
var DefaultPrincipals = Principals{
	Command:   "happychat-command",
	Projector: "happychat-projector",
	Realtime:  "happychat-realtime",
	Query:     "happychat-query",
}

// Grant is one row of the ACL table: User may do Ops on the resource.
// Whatever no row allows is denied (the brokers run without
// allow.everyone.if.no.acl.found), and only the setup principal, a super
// user, creates topics and ACLs.
type Grant struct {
	User     string
	Resource kmsg.ACLResourceType
	Name     string
	Prefixed bool // Name is a prefix (the command owners' transactional ids)
	Ops      []kadm.ACLOperation
}

func (g Grant) String() string {
	ops := make([]string, len(g.Ops))
	for i, op := range g.Ops {
		ops[i] = op.String()
	}
	name := g.Name
	if g.Prefixed {
		name += "*"
	}
	return fmt.Sprintf("User:%s %s %s: %s", g.User, strings.ToLower(g.Resource.String()), name, strings.Join(ops, ","))
}

// Grants is the least each service needs, and no more:
//
//   - command appends every event (rooms and users topics), reads the rooms
//     topic back (its fold, dedupe window and tail), joins its owners'
//     group and runs one transactional producer per owned partition and
//     one per instance (docs/adr/0011), and ends another instance's;
//   - the projectors read both event topics in their groups, and so does
//     the notifier (as the projector's principal) in its own;
//   - realtime reads the rooms topic without a group;
//   - command, realtime and query read the users topic without a group,
//     for the revocations (logouts) of the last token lifetime (ADR 0007);
//   - projectors and realtime read and write the fleet's features topic,
//     where they advertise the feature level their build understands.
//
// Nobody but command may write the rooms or users topic, so a host that
// reaches the brokers with a projector's or a realtime instance's
// credentials cannot forge an event.
func Grants(n schemas.Names, p Principals) []Grant {
	read := []kadm.ACLOperation{kadm.OpRead, kadm.OpDescribe}
	readWrite := []kadm.ACLOperation{kadm.OpRead, kadm.OpWrite, kadm.OpDescribe}
	topic, group, txn := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId
	return []Grant{
		{User: p.Command, Resource: topic, Name: n.Rooms, Ops: readWrite},
		{User: p.Command, Resource: topic, Name: n.Users, Ops: readWrite},
		{User: p.Command, Resource: group, Name: n.CommandGroup, Ops: read},
		{User: p.Command, Resource: txn, Name: n.CommandGroup + ".p", Prefixed: true, Ops: []kadm.ACLOperation{kadm.OpWrite, kadm.OpDescribe}},
		{User: p.Command, Resource: txn, Name: n.CommandGroup + ".i@", Prefixed: true, Ops: []kadm.ACLOperation{kadm.OpWrite, kadm.OpDescribe}},

		{User: p.Projector, Resource: topic, Name: n.Rooms, Ops: read},
		{User: p.Projector, Resource: topic, Name: n.Users, Ops: read},
		{User: p.Projector, Resource: group, Name: n.ProjectorPostgresGroup, Ops: read},
		{User: p.Projector, Resource: group, Name: n.ProjectorClickHouseGroup, Ops: read},
		{User: p.Projector, Resource: topic, Name: n.Features, Ops: readWrite},
		// The Web Push notifier runs as the projector's principal: a reader
		// of the event topics in a group of its own (docs/notifier.md).
		{User: p.Projector, Resource: group, Name: n.NotifierGroup, Ops: read},

		{User: p.Realtime, Resource: topic, Name: n.Rooms, Ops: read},
		{User: p.Realtime, Resource: topic, Name: n.Features, Ops: readWrite},
		{User: p.Realtime, Resource: topic, Name: n.Users, Ops: read},
		{User: p.Realtime, Resource: topic, Name: n.Typing, Ops: readWrite},

		{User: p.Query, Resource: topic, Name: n.Users, Ops: read},
	}
}

// ApplyACLs creates the grants' ACLs (creating an existing one again is a
// no-op for the brokers). cl must be the setup principal's.
func ApplyACLs(ctx context.Context, cl *kgo.Client, grants []Grant) error {
	adm := kadm.NewClient(cl)
	var errs []error
	for _, g := range grants {
		b := kadm.NewACLs().Allow("User:" + g.User).AllowHosts("*").Operations(g.Ops...)
		switch g.Resource {
		case kmsg.ACLResourceTypeTopic:
			b = b.Topics(g.Name)
		case kmsg.ACLResourceTypeGroup:
			b = b.Groups(g.Name)
		case kmsg.ACLResourceTypeTransactionalId:
			b = b.TransactionalIDs(g.Name)
		default:
			return fmt.Errorf("grant %s: unexpected resource type", g)
		}
		if g.Prefixed {
			b = b.ResourcePatternType(kadm.ACLPatternPrefixed)
		}
		results, err := adm.CreateACLs(ctx, b)
		if err != nil {
			return fmt.Errorf("create ACLs %s: %w", g, err)
		}
		for _, r := range results {
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("create ACL %s: %w (%s)", g, r.Err, r.ErrMessage))
			}
		}
	}
	return errors.Join(errs...)
}
