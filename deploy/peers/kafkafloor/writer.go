package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A writer appends the records the schedule hands it and tells the ledger
// when each was answered. The three are the floors under happychat's
// write path, from the strictest to the weakest (docs/benchmarks.md, "The
// floor"):
//   - serial: one transactional producer, one transaction at a time, each
//     taking every record that came while the previous one ran (happychat's
//     instance writer without its owners, its offsets, its seals and its
//     key store: the least a transaction per gather costs);
//   - pipelined: two transactional producers, transaction N+1 produced
//     while N ends and committed only after it (docs/adr/0012);
//   - acks: no transaction, an idempotent producer with acks=all (durable
//     but unfenced: what happychat may not do, shown for the price of the
//     transaction).
type writer interface {
	run(ctx context.Context, pending <-chan int) error
}

// stages are a writer's per-transaction timings, ms.
type stages struct {
	mu                           sync.Mutex
	queued                       []float64 // per record: due → its transaction began
	produce, wait, end, perBatch []float64 // per transaction
}

func (s *stages) add(l *ledger, ks []int, began, flushed, ending, ended time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range ks {
		s.queued = append(s.queued, ms(began.Sub(l.due(k))))
	}
	s.produce = append(s.produce, ms(flushed.Sub(began)))
	s.wait = append(s.wait, ms(ending.Sub(flushed)))
	s.end = append(s.end, ms(ended.Sub(ending)))
	s.perBatch = append(s.perBatch, float64(len(ks)))
}

// take blocks for one record, then takes whatever else is waiting.
func take(ctx context.Context, pending <-chan int) ([]int, bool) {
	var ks []int
	select {
	case k, ok := <-pending:
		if !ok {
			return nil, false
		}
		ks = append(ks, k)
	case <-ctx.Done():
		return nil, false
	}
	for {
		select {
		case k, ok := <-pending:
			if !ok {
				return ks, true
			}
			ks = append(ks, k)
		default:
			return ks, true
		}
	}
}

// record is record k: its room's partition, its number, then padding to size.
func record(topic string, k, partitions, rooms, size int) *kgo.Record {
	v := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(v, uint64(int64(k)))
	room := 0
	if k >= 0 {
		room = k % rooms
	}
	return &kgo.Record{Topic: topic, Partition: int32(room % partitions), Key: fmt.Appendf(nil, "room-%d", room), Value: v}
}

// produceAll produces ks and waits for every one of them to be acknowledged.
func produceAll(ctx context.Context, cl *kgo.Client, t target, ks []int) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, k := range ks {
		wg.Add(1)
		cl.Produce(ctx, record(t.topic, k, t.partitions, t.rooms, t.size), func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = cmpOr(first, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return first
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// target is where and what the writers write.
type target struct {
	topic                   string
	partitions, rooms, size int
}

// warm runs one committed transaction with a record on every partition
// (k = -1, which the ledger ignores) before the clock starts: the first
// produce to a topic loads its metadata, and a transaction that falls in
// that load can end as an abort that franz-go v1.22.3 reports as a commit
// (docs/command.md, "The commit watch"), which would count as lost here.
func warm(ctx context.Context, cl *kgo.Client, t target, txn bool) error {
	if txn {
		if err := cl.BeginTransaction(); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for p := range t.partitions {
		r := record(t.topic, -1, t.partitions, t.rooms, t.size)
		r.Partition = int32(p)
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			first = cmpOr(first, err)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	if !txn {
		return first
	}
	commit := kgo.TryCommit
	if first != nil {
		commit = kgo.TryAbort
	}
	return cmpOr(first, cl.EndTransaction(ctx, commit))
}

type serial struct {
	cl *kgo.Client
	t  target
	l  *ledger
	st *stages
}

func (w *serial) run(ctx context.Context, pending <-chan int) error {
	for {
		ks, ok := take(ctx, pending)
		if !ok {
			return nil
		}
		began := time.Now()
		if err := w.cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		perr := produceAll(ctx, w.cl, w.t, ks)
		flushed := time.Now()
		commit := kgo.TryCommit
		if perr != nil {
			commit = kgo.TryAbort
		}
		err := w.cl.EndTransaction(ctx, commit)
		ended := time.Now()
		w.l.answer(ks, ended, perr == nil && err == nil)
		w.st.add(w.l, ks, began, flushed, flushed, ended)
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
	}
}

// pipelined alternates two producers: while transaction N ends on one,
// N+1 gathers, produces and flushes on the other, then ends only once N
// has ended, and aborts if N did not commit. N+1 produces only after N's
// records are acknowledged, so within a partition N's come first.
type pipelined struct {
	cls [2]*kgo.Client
	t   target
	l   *ledger
	st  *stages
}

type ending struct {
	done chan struct{}
	ok   bool
	err  error
}

var errPrevious = errors.New("the previous transaction did not commit")

func (w *pipelined) run(ctx context.Context, pending <-chan int) error {
	var prev, prev2 *ending // N-1's end, and N-2's, the last on this producer
	defer func() {
		if prev != nil {
			<-prev.done
		}
	}()
	for n := 0; ; n++ {
		ks, ok := take(ctx, pending)
		if !ok {
			return nil
		}
		cl := w.cls[n%2]
		if prev2 != nil {
			<-prev2.done // this producer's previous transaction has ended
			if prev2.err != nil {
				return prev2.err
			}
		}
		began := time.Now()
		if err := cl.BeginTransaction(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		perr := produceAll(ctx, cl, w.t, ks)
		flushed := time.Now()
		e := &ending{done: make(chan struct{})}
		go func(before *ending) {
			defer close(e.done)
			prevOK := true
			if before != nil {
				<-before.done
				prevOK = before.ok
			}
			ending := time.Now()
			commit := kgo.TryCommit
			if perr != nil || !prevOK {
				commit = kgo.TryAbort
			}
			err := cl.EndTransaction(ctx, commit)
			ended := time.Now()
			e.ok = commit == kgo.TryCommit && err == nil
			if err != nil {
				e.err = fmt.Errorf("end: %w", err)
			} else if !prevOK {
				e.err = errPrevious
			}
			w.l.answer(ks, ended, e.ok)
			w.st.add(w.l, ks, began, flushed, ending, ended)
		}(prev)
		prev2, prev = prev, e
	}
}

// acks produces every record as it comes, no transaction: idempotent,
// acks=all, no linger. Its answer is the produce's acknowledgement.
type acks struct {
	cl *kgo.Client
	t  target
	l  *ledger
}

func (w *acks) run(ctx context.Context, pending <-chan int) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case k, ok := <-pending:
			if !ok {
				return nil
			}
			wg.Add(1)
			w.cl.Produce(ctx, record(w.t.topic, k, w.t.partitions, w.t.rooms, w.t.size), func(_ *kgo.Record, err error) {
				w.l.answer([]int{k}, time.Now(), err == nil)
				wg.Done()
			})
		case <-ctx.Done():
			return nil
		}
	}
}
