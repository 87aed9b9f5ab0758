package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// members is group with m members of the owners' group in one process: the
// group's assignor splits the partitions between them, and each member runs
// its own session and its own transaction, one at a time, over its own
// partitions. So m transactions are in flight at once, each fenced by the
// same generation through franz-go's own GroupTransactSession: the
// pipelining of docs/adr/0012 without stepping outside the client's
// protocol, at the price of m transactional ids per process and m times
// the transactions, each emptier (measured slower: docs/benchmarks.md,
// "The floor").
type members struct {
	sessions []*kgo.GroupTransactSession
	owner    map[int32]int // partition → member, stable before the load began
	t        target
	l        *ledger
	st       *stages
}

func (w *members) run(ctx context.Context, pending <-chan int) error {
	chans := make([]chan int, len(w.sessions))
	errs := make(chan error, len(w.sessions))
	for i, s := range w.sessions {
		chans[i] = make(chan int, cap(pending))
		go func() { errs <- group(s, w.t, w.l, w.st).run(ctx, chans[i]) }()
	}
	for k := range pending {
		chans[w.owner[partitionOf(k, w.t)]] <- k
	}
	for _, c := range chans {
		close(c)
	}
	var first error
	for range w.sessions {
		first = cmpOr(first, <-errs)
	}
	return first
}

// joinMembers starts m members of the group on topic and waits until the
// group has settled: every partition owned by exactly one member, every
// member owning one, for a second. Their polls stop before it returns (a
// session may not poll while a transaction begins or ends).
func joinMembers(ctx context.Context, seeds []string, topic string, m, partitions int) ([]*kgo.GroupTransactSession, map[int32]int, error) {
	var mu sync.Mutex
	owned := make([]map[int32]bool, m)
	sessions := make([]*kgo.GroupTransactSession, 0, m)
	closeAll := func() {
		for _, s := range sessions {
			s.Close()
		}
	}
	for i := range m {
		owned[i] = map[int32]bool{}
		change := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
			return func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range a[topic] {
					if add {
						owned[i][p] = true
					} else {
						delete(owned[i], p)
					}
				}
			}
		}
		sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(seeds...),
			kgo.ClientID(fmt.Sprintf("kafkafloor-group-%d", i)), kgo.ConsumerGroup(topic+"-owners"), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.TransactionalID(fmt.Sprintf("%s-g%d", topic, i)), kgo.TransactionTimeout(15*time.Second),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
			kgo.OnPartitionsAssigned(change(true)), kgo.OnPartitionsRevoked(change(false)), kgo.OnPartitionsLost(change(false)))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		sess.Client().PauseFetchTopics(topic)
		sessions = append(sessions, sess)
	}
	pctx, stopPolls := context.WithCancel(ctx)
	var polls sync.WaitGroup
	for _, s := range sessions {
		polls.Add(1)
		go func() {
			defer polls.Done()
			for pctx.Err() == nil {
				c, cancel := context.WithTimeout(pctx, 100*time.Millisecond)
				s.PollFetches(c)
				cancel()
			}
		}()
	}
	settled := func() map[int32]int {
		mu.Lock()
		defer mu.Unlock()
		owner := map[int32]int{}
		for i, ps := range owned {
			if len(ps) == 0 {
				return nil
			}
			for p := range ps {
				if _, twice := owner[p]; twice {
					return nil
				}
				owner[p] = i
			}
		}
		if len(owner) != partitions {
			return nil
		}
		return owner
	}
	var owner map[int32]int
	var since time.Time
	deadline := time.Now().Add(time.Minute)
	for owner == nil || time.Since(since) < time.Second {
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopPolls()
			polls.Wait()
			closeAll()
			return nil, nil, fmt.Errorf("the group of %d members did not settle", m)
		}
		time.Sleep(50 * time.Millisecond)
		now := settled()
		if now == nil || !sameOwners(now, owner) {
			owner, since = now, time.Now()
		}
	}
	stopPolls()
	polls.Wait()
	return sessions, owner, nil
}

func sameOwners(a, b map[int32]int) bool {
	if len(a) != len(b) {
		return false
	}
	for p, i := range a {
		if j, ok := b[p]; !ok || i != j {
			return false
		}
	}
	return true
}

// joinMember is a plain member of the owners' group on topic, fetching
// paused, whose only part is the generation raw offsets carry. It returns
// once the member holds its partitions and its generation has held for a
// second: a later rebalance would fence the offsets of the transaction it
// overlaps (ILLEGAL_GENERATION).
func joinMember(ctx context.Context, seeds []string, topic string) (*kgo.Client, error) {
	assigned := make(chan struct{})
	var once sync.Once
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID("kafkafloor-member"),
		kgo.ConsumerGroup(topic+"-owners"), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { once.Do(func() { close(assigned) }) }))
	if err != nil {
		return nil, err
	}
	cl.PauseFetchTopics(topic)
	// The join runs in the background of the polls.
	for joined := false; !joined; {
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		cl.PollFetches(pctx)
		cancel()
		select {
		case <-assigned:
			joined = true
		case <-ctx.Done():
			cl.Close()
			return nil, ctx.Err()
		default:
		}
	}
	last, since := int32(-2), time.Now()
	deadline := time.Now().Add(time.Minute)
	for time.Since(since) < time.Second {
		if time.Now().After(deadline) || ctx.Err() != nil {
			cl.Close()
			return nil, errors.New("the group's generation did not settle")
		}
		if _, gen := cl.GroupMetadata(); gen != last || gen < 0 {
			last, since = gen, time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cl, nil
}
