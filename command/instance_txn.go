// One transaction per instance (docs/adr/0011): at feature level 6 every
// owner of this instance hands its decided batch to the instance's writer,
// which appends the batches of all of them in one transaction of the owners'
// group session, fenced by the group's generation instead of by each
// partition's transactional id.

package command

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// instanceTxnLevel is the cluster feature level from which owners append
// through their instance's transaction. Every build at this level takes a
// partition over from either kind of writer (settleOpen), so a group whose
// instances switch one by one, as each reads the raised level, stays
// single-writer per partition.
const instanceTxnLevel = 6

// instanceTxnID is the transactional id of an instance's writer. It is
// derived from the advertised address, as the group member's client id is,
// so that a successor taking a partition over can tell a dead writer from a
// live one (settleOpen), and an instance restarted at the same address ends
// its predecessor's open transaction when it starts.
func (s *Service) instanceTxnID() string {
	return s.cfg.Names.CommandGroup + instanceTxnPrefix + s.advertise
}

// instanceTxnPrefix follows the group name in every instance's
// transactional id; the per-partition ids use ".p" (txnClient).
const instanceTxnPrefix = ".i@"

// instanceMode reports whether owners append through the instance's
// transaction: the cluster's level allows it and the group session runs.
func (s *Service) instanceMode() bool {
	return s.level.Load() >= instanceTxnLevel && s.writer.Load() != nil
}

// sharedJob is one owner's decided batch, waiting for the instance's
// transaction.
type sharedJob struct {
	o      *owner
	events []schemas.Envelope
	gate   func() error
	done   chan sharedResult
}

type sharedResult struct {
	recs []*kgo.Record
	err  error
}

// errInstanceTxnAborted is a batch whose instance transaction aborted (a
// rebalance, a refused offset commit, another owner's failed produce):
// nothing of it committed, and the same session goes on.
var errInstanceTxnAborted = errors.New("the instance's transaction was aborted")

// errNothingWritten is a batch the writer never began to append (it
// stopped first): known to be saved nowhere.
var errNothingWritten = errors.New("the batch was not appended")

// errSessionBroken is an instance transaction whose end failed: its outcome
// is unknown and the session's producer cannot go on. The group session
// starts over; the new one's InitProducerID ends the old transaction, and
// every owner takes its partition over again, reading back what committed.
var errSessionBroken = errors.New("the owners' group session must start over")

// instanceWriter appends owners' batches in the instance's transactions:
// whatever arrives while a transaction is in flight goes into the next one.
type instanceWriter struct {
	svc    *Service
	sess   *kgo.GroupTransactSession
	lock   *sessionLock // held across each transaction and poll
	jobs   chan *sharedJob
	idle   chan *owner   // owners with nothing to write after a batch (idleAfterBatch)
	rejoin time.Duration // rejoinWait; a test's own
	broken chan struct{} // closed when a transaction's end failed
	once   sync.Once
	ends   *commitWatch // how the session's EndTxn requests were answered (txn_confirm.go)
}

func newInstanceWriter(s *Service, lock *sessionLock, ends *commitWatch) *instanceWriter {
	return &instanceWriter{
		svc: s, sess: lock.sess, lock: lock, ends: ends,
		jobs: make(chan *sharedJob, 4096), idle: make(chan *owner, 1024),
		rejoin: rejoinWait, broken: make(chan struct{}),
	}
}

// rejoinWait bounds how long the next transaction waits for the owners the
// previous one answered (see gather).
const rejoinWait = 2 * time.Millisecond

// write hands a batch to the writer and waits for its transaction's end.
// A stopped owner waiting here tells stopOwners so (parked): a revoke must
// not wait for the transaction's end, which waits for the revoke
// (franz-go's session holds one lock across both). The transaction then
// aborts, since the session saw the revoke before the owner was stopped.
func (w *instanceWriter) write(o *owner, events []schemas.Envelope, gate func() error) ([]*kgo.Record, error) {
	j := &sharedJob{o: o, events: events, gate: gate, done: make(chan sharedResult, 1)}
	select {
	case w.jobs <- j:
	case <-w.broken:
		return nil, errors.Join(errNothingWritten, errSessionBroken, errNeedsNewProducer)
	}
	stop := o.stop
	for {
		select {
		case r := <-j.done:
			return r.recs, r.err
		case <-stop:
			o.park()
			stop = nil
		}
	}
}

// park tells stopOwners that this stopped owner waits for its instance's
// transaction (see write).
func (o *owner) park() { o.parkOnce.Do(func() { close(o.parked) }) }

// run serves jobs until ctx ends or a transaction's end fails (then it
// answers every job it has with errSessionBroken, and so does write from
// then on).
func (w *instanceWriter) run(ctx context.Context) {
	defer w.breakDown()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	var answered map[*owner]struct{}
	for {
		select {
		case <-poll.C:
			w.pollErrors(ctx)
		default:
		}
		jobs := w.gather(ctx, answered)
		if len(jobs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-poll.C:
				w.pollErrors(ctx)
				continue
			case <-w.idle: // an owner answered long ago: nothing waits for it
				continue
			case j := <-w.jobs:
				jobs = append(jobs, j)
			}
		}
	fill:
		for {
			select {
			case j := <-w.jobs:
				jobs = append(jobs, j)
			default:
				break fill
			}
		}
		answered = make(map[*owner]struct{}, len(jobs))
		for _, j := range jobs {
			answered[j.o] = struct{}{}
		}
		if err := w.commit(ctx, jobs); err != nil {
			w.svc.log.Error("instance transaction failed; the owners' group session starts over", "err", err)
			return
		}
	}
}

// gather waits up to rejoinWait for the owners the previous transaction
// answered to hand in their next batch, or to say they have none
// (idleAfterBatch), and returns the jobs that came meanwhile. Without it
// the owners fell into two cohorts taking turns: the transaction that
// began the moment the previous one ended held only the batches queued
// during it, and the owners just answered, deciding their next batch
// microseconds later, waited for all of it (issue 16: at 1 000 sends/s,
// 20 ms queued at the owner for a 16 ms cycle). It only delays a Begin.
func (w *instanceWriter) gather(ctx context.Context, answered map[*owner]struct{}) []*sharedJob {
	if len(answered) == 0 {
		return nil
	}
	var jobs []*sharedJob
	t := time.NewTimer(w.rejoin)
	defer t.Stop()
	for len(answered) > 0 {
		select {
		case j := <-w.jobs:
			jobs = append(jobs, j)
			delete(answered, j.o)
		case o := <-w.idle:
			delete(answered, o)
		case <-t.C:
			return jobs
		case <-ctx.Done():
			return jobs
		}
	}
	return jobs
}

// ownerIdle tells the instance's writer, if it has one, that o has nothing
// queued after its batch (see gather).
func (s *Service) ownerIdle(o *owner) {
	if w := s.writer.Load(); w != nil && s.instanceMode() {
		w.idleAfterBatch(o)
	}
}

// idleAfterBatch tells the writer that o, whose batch it answered, has
// nothing more to write now (see gather). It never blocks: a full channel
// only costs the writer the rest of rejoinWait.
func (w *instanceWriter) idleAfterBatch(o *owner) {
	select {
	case w.idle <- o:
	default:
	}
}

// pollErrors surfaces the group's errors (fetching is paused: the owners
// read through the tail). franz-go forbids polling concurrently with Begin
// and End, so the writer polls between its transactions, with a nil
// context: PollFetches then returns at once with what is buffered (its
// documented contract). A context with a timeout made every poll wait that
// whole timeout, since a paused topic brings no fetch: 10 ms of every
// second in which no transaction began.
func (w *instanceWriter) pollErrors(ctx context.Context) {
	w.lock.lock()
	defer w.unlock(ctx)
	//nolint:staticcheck,contextcheck // a nil context is franz-go's "do not wait" (SA1012 asks for a non-nil one)
	w.sess.PollFetches(nil).EachError(func(t string, p int32, err error) {
		w.svc.log.Warn("owners group", "topic", t, "partition", p, "err", err)
	})
}

// unlock lets go of the session (see sessionLock.unlock).
func (w *instanceWriter) unlock(ctx context.Context) {
	if err := w.lock.unlock(ctx); err != nil {
		w.svc.log.Warn("owners' group session: clearing its record of a revoke", "err", err)
	}
}

// breakDown closes broken and answers whatever is still queued.
func (w *instanceWriter) breakDown() {
	w.once.Do(func() { close(w.broken) })
	for {
		select {
		case j := <-w.jobs:
			j.done <- sharedResult{err: errors.Join(errNothingWritten, errSessionBroken, errNeedsNewProducer)}
		default:
			return
		}
	}
}

// commit appends jobs in one transaction and answers each. It returns an
// error only when the session cannot go on.
func (w *instanceWriter) commit(ctx context.Context, jobs []*sharedJob) error {
	w.lock.lock()
	defer w.unlock(ctx)
	svc := w.svc
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), svc.cfg.finishTimeout())
	defer cancel()
	answer := func(j *sharedJob, recs []*kgo.Record, err error) { j.done <- sharedResult{recs: recs, err: err} }
	began := time.Now()
	if err := w.sess.Begin(); err != nil {
		for _, j := range jobs {
			answer(j, nil, errors.Join(errSessionBroken, errNeedsNewProducer))
		}
		return fmt.Errorf("begin transaction: %w", err)
	}
	// Checked after Begin: a revoke either stopped the owner before this
	// (its job is refused here) or marks this transaction to abort (the
	// session's revoke callback runs before ours, which stops owners).
	live := jobs[:0]
	for _, j := range jobs {
		if j.o.stopped() || svc.ownerOf(j.o.part) != j.o {
			answer(j, nil, errNotOwner)
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		_, err := w.sess.End(ctx, kgo.TryAbort) // nothing was produced
		return err
	}
	// Every batch's records, then one produce and flush of them all.
	recs := make([][]*kgo.Record, len(live))
	var all []*kgo.Record
	var perr error
	for i, j := range live {
		if recs[i], perr = svc.records(j.o.part, j.events); perr != nil {
			break
		}
		all = append(all, recs[i]...)
	}
	if perr == nil {
		perr = produceAll(ctx, w.sess.Client(), all)
	}
	svc.metrics.stageSeconds.WithLabelValues("append").Observe(time.Since(began).Seconds())
	gateErrs := make([]error, len(live))
	if perr == nil {
		for i, j := range live {
			gateErrs[i] = j.gate()
		}
	}
	if perr != nil || errors.Join(gateErrs...) != nil {
		if perr != nil {
			svc.log.Warn("instance transaction: produce failed, aborting", "err", perr)
		}
		_, err := w.sess.End(ctx, kgo.TryAbort)
		return w.answerAll(live, recs, gateErrs, false, err)
	}
	// The offset commit that carries the group's generation: one per
	// written partition, its next offset (and a record of who wrote last).
	offs := map[int32]kgo.EpochOffset{}
	for i, j := range live {
		if n := len(recs[i]); n > 0 {
			offs[j.o.part] = kgo.EpochOffset{Epoch: -1, Offset: recs[i][n-1].Offset + 1}
		}
	}
	w.sess.Client().SetOffsets(map[string]map[int32]kgo.EpochOffset{svc.cfg.Names.Rooms: offs})
	if h := svc.cfg.hooks.beforeCommit; h != nil {
		for p := range offs {
			h(p)
		}
	}
	committing := time.Now()
	w.ends.reset()
	committed, err := w.sess.End(ctx, kgo.TryCommit)
	if committed && err == nil {
		// The session's producer state is not to be trusted after an
		// unconfirmed commit: the session starts over (an End error).
		err = w.ends.confirm()
	}
	if committed && err == nil {
		svc.metrics.stageSeconds.WithLabelValues("commit").Observe(time.Since(committing).Seconds())
		svc.metrics.batchEvents.Observe(float64(len(all)))
		svc.metrics.instanceTxnBatches.Observe(float64(len(live)))
	}
	return w.answerAll(live, recs, gateErrs, committed, err)
}

// answerAll answers the jobs of a transaction: committed, aborted (each
// job its gate's error or errInstanceTxnAborted), or ended with an error.
// franz-go's End returns no retryable error: the outcome may be unknown and
// the session's producer cannot go on, so the jobs are told that (their
// owners take their partitions over again) and so is run.
func (w *instanceWriter) answerAll(live []*sharedJob, recs [][]*kgo.Record, gateErrs []error, committed bool, endErr error) error {
	for i, j := range live {
		switch {
		case endErr != nil:
			j.done <- sharedResult{err: errors.Join(fmt.Errorf("instance transaction: %w", endErr), errSessionBroken, errNeedsNewProducer)}
		case committed:
			j.done <- sharedResult{recs: recs[i]}
		case gateErrs[i] != nil:
			j.done <- sharedResult{err: gateErrs[i]}
		default:
			j.done <- sharedResult{err: errInstanceTxnAborted}
		}
	}
	return endErr
}
