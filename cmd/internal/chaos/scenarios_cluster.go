package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"happychat/internal/kafkacluster"
	"happychat/schemas"
)

// clusterScenarios run on a system of their own on the 3-broker cluster
// (docs/cluster.md: replication factor 3, min.insync.replicas 2), after the
// single-broker ones. Each takes a broker that matters to the command
// owners away under the fault load and brings it back; the faults and the
// lookups of where partitions and coordinators live are
// internal/kafkacluster's, shared with command's failover tests.
var clusterScenarios = []scenario{
	{"leader-kill", "SIGKILL the broker leading most rooms partitions; start it again once the others took over", brokerFault(leaderOfMost, killBroker)},
	{"leader-stop", "stop (SIGTERM, controlled shutdown) the broker leading most rooms partitions; start it again", brokerFault(leaderOfMost, stopBroker)},
	{"txn-coordinator-kill", "SIGKILL the broker coordinating most of the command owners' transactional ids", brokerFault(txnCoordinator, killBroker)},
	{"group-coordinator-kill", "SIGKILL the broker coordinating the command ownership group", brokerFault(groupCoordinator, killBroker)},
	{"broker-rolling-restart", "restart the 3 brokers one at a time (SIGTERM, start), waiting for every ISR to be full in between", runRollingRestart},
}

// brokerAction takes a broker down: a SIGKILL, or a clean stop.
type brokerAction struct {
	kind string // the Fault's kind
	do   func(*kafkacluster.Injector, context.Context, int32) error
}

var (
	killBroker = brokerAction{"broker_sigkill", (*kafkacluster.Injector).Kill}
	stopBroker = brokerAction{"broker_sigterm", (*kafkacluster.Injector).Stop}
)

// brokerTarget picks the broker to take down and says what it is.
type brokerTarget func(ctx context.Context, r *run) (int32, string, error)

func leaderOfMost(ctx context.Context, r *run) (int32, string, error) {
	id, err := r.sys.cluster.LeaderOfMost(ctx, r.sys.names.Rooms)
	return id, "leader of most rooms partitions", err
}

// txnCoordinator is the broker coordinating most of the command
// instances' transactional ids: one per instance from feature level 6
// (docs/adr/0011), else one per rooms partition (command/owner_txn.go).
func txnCoordinator(ctx context.Context, r *run) (int32, string, error) {
	ids, err := r.ownerTxnIDs(ctx)
	if err != nil {
		return 0, "", err
	}
	count := map[int32]int{}
	var best int32
	for _, txn := range ids {
		id, err := r.sys.cluster.TxnCoordinator(ctx, txn)
		if err != nil {
			return 0, "", err
		}
		if count[id]++; count[id] > count[best] {
			best = id
		}
	}
	return best, fmt.Sprintf("transaction coordinator of %d of %d owners' transactional ids", count[best], len(ids)), nil
}

// ownerTxnIDs are the transactional ids the command instances append
// with: the instances' own (listed by the brokers: "<group>.i@<address>")
// if any is known, else the partitions'.
func (r *run) ownerTxnIDs(ctx context.Context) ([]string, error) {
	listed, err := r.sys.cluster.Admin().ListTransactions(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	var ids []string
	for id := range listed {
		if strings.HasPrefix(id, r.sys.names.CommandGroup+".i@") {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		return ids, nil
	}
	for p := range r.size.Partitions {
		ids = append(ids, ownerTxnID(r.sys.names, int32(p)))
	}
	return ids, nil
}

func groupCoordinator(ctx context.Context, r *run) (int32, string, error) {
	id, err := r.sys.cluster.GroupCoordinator(ctx, r.sys.names.CommandGroup)
	return id, "coordinator of " + r.sys.names.CommandGroup, err
}

// ownerTxnID is the transactional id of the owner of a rooms partition, as
// command/owner_txn.go names it.
func ownerTxnID(n schemas.Names, partition int32) string {
	return n.CommandGroup + ".p" + strconv.Itoa(int(partition))
}

// brokerFault is a scenario: under the fault load, take the target broker
// down, keep it down for Size.BrokerDown (the others take its leaderships
// and coordinators over), start it again and wait until every replica is
// in sync. The broker is brought back whatever happens.
func brokerFault(target brokerTarget, act brokerAction) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		in := r.sys.cluster
		return r.underLoad(ctx, faultPlan{
			lead: 3 * time.Second, tail: 3 * time.Second,
			fault: func(ctx context.Context, _ []*room) (err error) {
				defer func() { err = errors.Join(err, r.restoreCluster(ctx)) }()
				lookup, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				id, what, err := target(lookup, r)
				if err != nil {
					return err
				}
				r.notef("broker %d: %s; %s", id, what, r.roles(lookup, id))
				// The owners' sessions should outlive their group
				// coordinator (command/ownership.go, heartbeatRetryTimeout):
				// a rebalance drops every partition, also those the broker
				// had nothing to do with.
				coord, err := r.sys.cluster.GroupCoordinator(lookup, r.sys.names.CommandGroup)
				if err != nil {
					return err
				}
				moves := r.partitionMoves(ctx)
				f := r.fault(act.kind, fmt.Sprintf("broker %d", id))
				if err := act.do(in, ctx, id); err != nil {
					return err
				}
				if err := pause(ctx, r.size.BrokerDown); err != nil {
					return err
				}
				if err := in.Start(context.WithoutCancel(ctx), id); err != nil {
					return err
				}
				r.endFault(f)
				if err := r.waitRecovered(ctx, f); err != nil {
					return err
				}
				// Reported, not failed: a rebalance is safe (the owners are
				// fenced), only slower, and a loaded machine can still
				// delay a heartbeat past the new coordinator's session
				// timer.
				if n := r.partitionMoves(ctx) - moves; coord == id && n != 0 {
					r.notef("the owners' group rebalanced when its coordinator (broker %d) went down: %.0f partitions assigned, revoked or lost", id, n)
				} else if coord == id {
					r.notef("the owners' group kept every member through its coordinator's failover")
				}
				return nil
			},
		})
	}
}

// partitionMoves counts the partitions the owners' group assigned to,
// revoked from or lost by the command instances so far.
func (r *run) partitionMoves(ctx context.Context) float64 {
	return r.metric(ctx, procCommandA, "happychat_command_partition_moves_total") +
		r.metric(ctx, procCommandB, "happychat_command_partition_moves_total")
}

// runRollingRestart restarts the brokers one at a time as an operator
// would: a clean stop, a start, and every partition's ISR full again
// before the next broker.
func runRollingRestart(ctx context.Context, r *run) error {
	in := r.sys.cluster
	return r.underLoad(ctx, faultPlan{
		lead: 3 * time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) (err error) {
			defer func() { err = errors.Join(err, r.restoreCluster(ctx)) }()
			for _, id := range kafkacluster.NodeIDs {
				lookup, cancel := context.WithTimeout(ctx, time.Minute)
				r.notef("broker %d: %s", id, r.roles(lookup, id))
				cancel()
				f := r.fault("broker_restart", fmt.Sprintf("broker %d", id))
				if err := in.Stop(ctx, id); err != nil {
					return err
				}
				if err := in.Start(context.WithoutCancel(ctx), id); err != nil {
					return err
				}
				r.endFault(f)
				if err := r.waitRecovered(ctx, f); err != nil {
					return err
				}
				if err := r.waitInSync(ctx); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// restoreCluster brings back any broker the scenario left down and waits
// until every replica of every topic is in sync, so that the next scenario
// (or the next user of the cluster) finds it whole.
func (r *run) restoreCluster(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx) // also after ctrl-C
	if err := r.sys.cluster.Restore(ctx); err != nil {
		return err
	}
	return r.waitInSync(ctx)
}

// waitInSync waits (bounded) until every partition of every topic has all
// its replicas in sync, and notes how long that took.
func (r *run) waitInSync(ctx context.Context) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := r.sys.cluster.WaitInSync(ctx); err != nil {
		return fmt.Errorf("the cluster: %w", err)
	}
	if d := time.Since(start); d > time.Second {
		r.notef("every ISR full again after %s", d.Round(100*time.Millisecond))
	}
	return nil
}

// roles says what broker id is to the system: how many rooms partitions
// it leads, how many owners' transactional ids it coordinates, and whether
// it coordinates the ownership group, and whether it is the active KRaft
// controller. A lookup that fails says so.
func (r *run) roles(ctx context.Context, id int32) string {
	c, n := r.sys.cluster, r.sys.names
	leads := 0
	for p := range r.size.Partitions {
		if l, err := c.PartitionLeader(ctx, n.Rooms, int32(p)); err != nil {
			return fmt.Sprintf("roles unknown (%v)", err)
		} else if l == id {
			leads++
		}
	}
	txnIDs, err := r.ownerTxnIDs(ctx)
	if err != nil {
		return fmt.Sprintf("roles unknown (%v)", err)
	}
	txns := 0
	for _, txn := range txnIDs {
		if t, err := c.TxnCoordinator(ctx, txn); err != nil {
			return fmt.Sprintf("roles unknown (%v)", err)
		} else if t == id {
			txns++
		}
	}
	g, err := c.GroupCoordinator(ctx, n.CommandGroup)
	if err != nil {
		return fmt.Sprintf("roles unknown (%v)", err)
	}
	// The active controller: its node's death adds a controller election
	// to the failover (docs/reliability.md, "What a broker kill costs").
	ctl, err := c.ActiveController(ctx)
	if err != nil {
		return fmt.Sprintf("roles unknown (%v)", err)
	}
	return fmt.Sprintf("leads %d of %d rooms partitions, coordinates %d of %d owners' transactional ids, group coordinator: %t, active controller: %t",
		leads, r.size.Partitions, txns, len(txnIDs), g == id, ctl == id)
}
