package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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

// records are the records of ks.
func records(t target, ks []int) []*kgo.Record {
	recs := make([]*kgo.Record, len(ks))
	for i, k := range ks {
		recs[i] = record(t.topic, k, t.partitions, t.rooms, t.size)
	}
	return recs
}

// partitionOf is the partition record k goes to.
func partitionOf(k int, t target) int32 {
	return record(t.topic, k, t.partitions, t.rooms, 8).Partition
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
	recs := make([]*kgo.Record, t.partitions)
	for p := range recs {
		recs[p] = warmRecord(t, p)
	}
	err := cl.ProduceSync(ctx, recs...).FirstErr()
	if !txn {
		return err
	}
	commit := kgo.TryCommit
	if err != nil {
		commit = kgo.TryAbort
	}
	return cmpOr(err, cl.EndTransaction(ctx, commit))
}

// warmRecord is a warm-up's record on partition p: k = -1, which the
// ledger ignores.
func warmRecord(t target, p int) *kgo.Record {
	r := record(t.topic, -1, t.partitions, t.rooms, t.size)
	r.Partition = int32(p)
	return r
}

// oneAtATime runs one transaction at a time, each taking every record
// that came while the previous one ran: serial, group and raw differ only
// in how a transaction begins and ends.
type oneAtATime struct {
	begin  func() error
	commit func(ctx context.Context, recs []*kgo.Record) (committed bool, flushed time.Time, err error)
	t      target
	l      *ledger
	st     *stages
}

func (w *oneAtATime) run(ctx context.Context, pending <-chan int) error {
	for {
		ks, ok := take(ctx, pending)
		if !ok {
			return nil
		}
		began := time.Now()
		if err := w.begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		recs := records(w.t, ks)
		committed, flushed, err := w.commit(ctx, recs)
		ended := time.Now()
		w.l.answer(ks, ended, committed && err == nil)
		w.st.add(w.l, ks, began, flushed, flushed, ended)
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
	}
}

// serial is the plain transaction: produce, then EndTxn.
func serial(cl *kgo.Client, t target, l *ledger, st *stages) *oneAtATime {
	return &oneAtATime{begin: cl.BeginTransaction, commit: endCommit(cl, "", nil), t: t, l: l, st: st}
}

// endCommit produces recs in cl's open transaction, sends its offsets if
// it carries the group's generation (f), and ends it.
func endCommit(cl *kgo.Client, txnID string, f *fence) func(context.Context, []*kgo.Record) (bool, time.Time, error) {
	return func(ctx context.Context, recs []*kgo.Record) (bool, time.Time, error) {
		perr := cl.ProduceSync(ctx, recs...).FirstErr()
		flushed := time.Now()
		if perr == nil && f != nil {
			perr = f.commit(ctx, cl, txnID, recs)
		}
		if perr != nil {
			return false, flushed, cmpOr(cl.EndTransaction(ctx, kgo.TryAbort), perr)
		}
		err := cl.EndTransaction(ctx, kgo.TryCommit)
		return err == nil, flushed, err
	}
}

// pipelined alternates two producers: while transaction N ends on one,
// N+1 gathers, produces and flushes on the other, then ends only once N
// has ended, and aborts if N did not commit. N+1 produces only after N's
// records are acknowledged, so within a partition N's come first.
type pipelined struct {
	cls [2]*kgo.Client
	ids [2]string
	f   *fence // with the group's offsets in each transaction, if set
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
		recs := records(w.t, ks)
		perr := cl.ProduceSync(ctx, recs...).FirstErr()
		if perr == nil && w.f != nil {
			// sent before N has ended: N+1's offsets stay pending until
			// it commits, after N's
			perr = w.f.commit(ctx, cl, w.ids[n%2], recs)
		}
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

// group is serial with happychat's own protocol around each transaction
// (docs/adr/0011): the producer is a member of a consumer group on the
// topic (fetching paused), and every transaction also commits, through
// franz-go's GroupTransactSession, each written partition's next offset
// with the group's generation, which is what fences a writer whose
// generation is gone. End sends TxnOffsetCommit, forces a heartbeat, then
// EndTxn.
func group(sess *kgo.GroupTransactSession, t target, l *ledger, st *stages) *oneAtATime {
	return &oneAtATime{begin: sess.Begin, commit: groupCommit(sess, t), t: t, l: l, st: st}
}

// groupCommit produces recs in the session's open transaction, sets the
// written partitions' offsets and ends it.
func groupCommit(sess *kgo.GroupTransactSession, t target) func(context.Context, []*kgo.Record) (bool, time.Time, error) {
	return func(ctx context.Context, recs []*kgo.Record) (bool, time.Time, error) {
		perr := sess.Client().ProduceSync(ctx, recs...).FirstErr()
		flushed := time.Now()
		if perr != nil {
			_, err := sess.End(ctx, kgo.TryAbort)
			return false, flushed, cmpOr(err, perr)
		}
		offs := map[int32]kgo.EpochOffset{}
		for _, r := range recs {
			offs[r.Partition] = kgo.EpochOffset{Epoch: -1, Offset: r.Offset + 1}
		}
		sess.Client().SetOffsets(map[string]map[int32]kgo.EpochOffset{t.topic: offs})
		committed, err := sess.End(ctx, kgo.TryCommit)
		return committed, flushed, err
	}
}

// raw is group without franz-go's session: the same offsets with the same
// generation, sent as a raw TxnOffsetCommit by the transactional client
// after the produce, then EndTxn, with no forced heartbeat (docs/adr/0012,
// "Reading franz-go for step 2": one request and one round trip fewer).
func raw(cl *kgo.Client, txnID string, f *fence, t target, l *ledger, st *stages) *oneAtATime {
	return &oneAtATime{begin: cl.BeginTransaction, commit: endCommit(cl, txnID, f), t: t, l: l, st: st}
}

// fence is what a transaction needs to carry the group's generation: the
// member that holds it (a plain group client, fetching paused, whose only
// part is the generation), and the group.
type fence struct {
	member *kgo.Client
	group  string
	topic  string
}

// commit sends the offset commit of cl's open transaction (txnID): each
// written partition's next offset, with the member's id and generation.
// Kafka 4 adds __consumer_offsets to the transaction itself
// (TxnOffsetCommit v5, KIP-890); CONCURRENT_TRANSACTIONS while it does is
// retried.
func (f *fence) commit(ctx context.Context, cl *kgo.Client, txnID string, recs []*kgo.Record) error {
	offs := map[int32]int64{}
	for _, r := range recs {
		offs[r.Partition] = r.Offset + 1
	}
	id, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		return err
	}
	member, gen := f.member.GroupMetadata()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, f.group, id, epoch
	req.Generation, req.MemberID = gen, member
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = f.topic
	for p, o := range offs {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, o, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for try := 0; ; try++ {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		var first error
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				first = cmpOr(first, kerr.ErrorForCode(p.ErrorCode))
			}
		}
		if !errors.Is(first, kerr.ConcurrentTransactions) || try == 50 {
			return first
		}
		time.Sleep(time.Millisecond)
	}
}
