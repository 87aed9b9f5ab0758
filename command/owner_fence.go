// Taking a partition over from an instance transaction (docs/adr/0011):
// the partition's own transactional id fences per-partition writers, but a
// writer appending through its instance's transaction is fenced by the
// owners' group generation only when it commits. Its transaction may still
// be open on the partition, and commit if its offsets were sent before the
// generation moved; the new owner must not read the log before it ends.

package command

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// deadWriterGrace is how long a takeover waits for an open instance
// transaction of a writer that is no longer in the owners' group before it
// ends it (InitProducerID on its id). A writer still in the group (its
// partitions revoked, its transaction aborting) is given its write timeout
// (Config.finishTimeout) first: fencing a live instance's id breaks its
// session and moves all of its partitions.
const deadWriterGrace = time.Second

// settleOpen returns once no instance transaction is open on the
// partition: every open one is waited for, and one of another instance is
// ended (fenced) once its grace is over. Transactions of the partition's own
// id were ended by this owner's InitProducerID; the instance's own open
// transaction (a session that broke) ends when the session starts over.
func (o *owner) settleOpen(ctx context.Context) error {
	svc := o.svc
	adm := kadm.NewClient(svc.admin)
	began := time.Now()
	fenced := map[string]bool{}
	backoff := 20 * time.Millisecond
	for {
		open, err := svc.openInstanceTxns(ctx, adm, o.part)
		if err != nil {
			return err
		}
		if len(open) == 0 {
			return nil
		}
		var live map[string]bool
		for _, id := range open {
			if id == svc.instanceTxnID() || fenced[id] {
				continue
			}
			if live == nil {
				if live, err = svc.liveMembers(ctx, adm); err != nil {
					return err
				}
			}
			grace := deadWriterGrace
			if live[strings.TrimPrefix(id, svc.cfg.Names.CommandGroup+instanceTxnPrefix)] {
				grace = svc.cfg.finishTimeout()
			}
			if time.Since(began) < grace {
				continue
			}
			svc.log.Warn("ending another instance's open transaction on a partition taken over", "partition", o.part, "transactional_id", id, "after", time.Since(began).Round(time.Millisecond))
			if err := svc.fenceTxnID(ctx, id); err != nil {
				return fmt.Errorf("fence %s: %w", id, err)
			}
			svc.metrics.fencedWriters.Inc()
			fenced[id] = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// openInstanceTxns returns the transactional ids of the instance
// transactions open on a partition (none: no producer has a transaction
// open there).
func (s *Service) openInstanceTxns(ctx context.Context, adm *kadm.Client, part int32) ([]string, error) {
	topic := s.cfg.Names.Rooms
	described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {part: {}}})
	if err != nil {
		return nil, fmt.Errorf("describe producers of partition %d: %w", part, err)
	}
	dp, ok := described[topic].Partitions[part]
	if !ok {
		return nil, fmt.Errorf("describe producers of partition %d: not described", part)
	}
	if dp.Err != nil {
		return nil, fmt.Errorf("describe producers of partition %d: %w", part, dp.Err)
	}
	var pids []int64
	for _, p := range dp.ActiveProducers {
		if p.CurrentTxnStartOffset >= 0 {
			pids = append(pids, p.ProducerID)
		}
	}
	if len(pids) == 0 {
		return nil, nil
	}
	txns, err := adm.ListTransactions(ctx, pids, nil)
	if err != nil {
		return nil, fmt.Errorf("list the transactions open on partition %d: %w", part, err)
	}
	prefix := s.cfg.Names.CommandGroup + instanceTxnPrefix
	var ids []string
	for id, t := range txns {
		switch t.State {
		case "Empty", "CompleteCommit", "CompleteAbort", "Dead":
			continue
		}
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// liveMembers returns the advertised addresses of the owners' group
// members (their client ids: groupSession).
func (s *Service) liveMembers(ctx context.Context, adm *kadm.Client) (map[string]bool, error) {
	groups, err := adm.DescribeGroups(ctx, s.cfg.Names.CommandGroup)
	if err != nil {
		return nil, fmt.Errorf("describe the owners' group: %w", err)
	}
	live := map[string]bool{}
	for _, m := range groups[s.cfg.Names.CommandGroup].Members {
		if addr, ok := strings.CutPrefix(m.ClientID, clientIDPrefix); ok {
			live[addr] = true
		}
	}
	return live, nil
}

// fenceTxnID ends a transactional id's open transaction: InitProducerID
// bumps its epoch and aborts it (or completes its commit if it was
// prepared, which the caller then reads back).
func (s *Service) fenceTxnID(ctx context.Context, id string) error {
	cl, err := kgo.NewClient(append(s.baseOpts(), kgo.TransactionalID(id),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, _, err = cl.ProducerID(ctx)
	return err
}
