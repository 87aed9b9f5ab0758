package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
	"happychat/schemas/idgen"
)

// maxBatch bounds the commands decided and appended in one transaction.
const maxBatch = 512

// owner serves one partition of the rooms topic while the group assigns it
// to this instance. It never gives up on its own: after any failure it
// takes the partition over again with a fresh producer, until it is
// revoked (docs/command.md, "Owner lifecycle").
type owner struct {
	svc  *Service
	part int32
	gen  *idgen.Gen
	reqs chan *request

	stop   chan struct{} // closed by a revoke or the shutdown
	cancel context.CancelFunc
	done   chan struct{}
	// parked is closed when a stopped owner waits for its instance's
	// transaction (instanceWriter.write).
	parked   chan struct{}
	parkOnce sync.Once
	ready    atomic.Bool
	// recovering is set by a failed write until the owner has settled it
	// and caught up (or taken the partition over again): commands are
	// answered 503 at once meanwhile instead of waiting in the queue for
	// the write timeout, so that a client's retry reaches the partition's
	// next owner as soon as there is one (a cut-off owner does not learn
	// that it lost the partition before its own group session errors).
	recovering atomic.Bool

	// Owner goroutine only.
	dd        *dedupe
	pos       int64 // offset after the owner's last commit: a snapshot's offset
	sinceSnap int   // records appended since the last snapshot
	lastSnap  time.Time
	snapping  bool
	// erasing are messages deleted since the last snapshot: the next one
	// is due at once and replaces every older snapshot (docs/adr/0009).
	erasing  []schemas.ID
	snapc    chan snapDone
	failures int          // appends failed in a row on this producer: three start the owner over
	ends     *commitWatch // how this producer's EndTxn requests were answered (txn_confirm.go)
	sweep    atomic.Bool  // a switch-leave failed: look for superseded members again
}

// errNotOwner is answered when the partition moved away mid-request; the
// client retries and reaches the new owner.
var errNotOwner = schemas.Errorf(schemas.CodeUnavailable, "the room is moving to another server, retry")

func unavailable(msg string) *schemas.Error { return schemas.Errorf(schemas.CodeUnavailable, msg) }

func newOwner(svc *Service, part int32) (*owner, error) {
	// Node id = partition: unique among live owners by the group's
	// assignment; a stale owner minting the same ids is fenced, and the
	// new owner's generator is floored at the partition's last id.
	gen, err := idgen.New(int64(part), idgen.WithClock(svc.cfg.Clock))
	if err != nil {
		return nil, err
	}
	return &owner{svc: svc, part: part, gen: gen, reqs: make(chan *request, 4096),
		stop: make(chan struct{}), done: make(chan struct{}), parked: make(chan struct{}), snapc: make(chan snapDone, 1)}, nil
}

func (o *owner) stopped() bool {
	select {
	case <-o.stop:
		return true
	default:
		return false
	}
}

// run serves the partition until the owner is stopped, starting over with a
// fresh producer after every failure.
func (o *owner) run(ctx context.Context) {
	defer close(o.done)
	defer o.drain()
	log := o.svc.log.With("partition", o.part)
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := o.serve(ctx)
		o.ready.Store(false)
		if o.stopped() || ctx.Err() != nil {
			return
		}
		o.svc.metrics.ownerRestarts.Inc()
		if time.Since(start) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		log.Warn("partition owner failed; taking over again with a fresh producer", "err", err, "in", backoff)
		select {
		case <-o.stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// drain answers requests that will never be processed.
func (o *owner) drain() {
	for {
		select {
		case r := <-o.reqs:
			r.done <- reply{err: errNotOwner}
		default:
			return
		}
	}
}

// serve takes the partition over with a new transactional producer and
// serves batches until the owner is stopped (nil) or fails.
func (o *owner) serve(ctx context.Context) error {
	o.failures = 0
	cl, ends, err := o.svc.txnClient(o.part)
	if err != nil {
		return fmt.Errorf("transactional client: %w", err)
	}
	defer cl.Close()
	o.ends = ends
	if err := o.takeOver(ctx, cl); err != nil {
		return fmt.Errorf("take over: %w", err)
	}
	o.ready.Store(true)
	o.recovering.Store(false)
	o.svc.metrics.owned.Inc()
	defer o.svc.metrics.owned.Dec()
	o.svc.log.Info("owning partition", "partition", o.part, "offset", o.pos, "window", o.dd.win.len())
	o.svc.resolveSuperseded(ctx, o.part)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSweep := time.Now()
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-o.stop:
			return nil
		case <-ctx.Done():
			return nil
		case d := <-o.snapc:
			o.snapshotDone(d)
			continue
		case <-tick.C:
			o.maybeSnapshot(ctx)
			// A clock behind the previous owner's shows here rather than
			// as refused sends: ids run ahead of it until it catches up.
			o.svc.metrics.idsAhead.WithLabelValues(strconv.Itoa(int(o.part))).Set(o.gen.Ahead().Seconds())
			if o.sweep.Swap(false) || time.Since(lastSweep) >= sweepEvery {
				// Also on a timer: a seat must not leak until the next
				// takeover if some path ever misses a switch-leave.
				lastSweep = time.Now()
				o.svc.resolveSuperseded(ctx, o.part)
			}
			continue
		case r := <-o.reqs:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-o.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if err := o.process(ctx, cl, batch); err != nil {
			return err
		}
		if len(o.reqs) == 0 {
			o.svc.ownerIdle(o)
		}
		o.maybeSnapshot(ctx)
	}
}

// process decides a batch, appends its events in one transaction and
// answers. An error means the owner must start over with a fresh producer;
// a failed append it recovered from (the transaction aborted, the state
// caught up with the log) is not an error.
func (o *owner) process(ctx context.Context, cl *kgo.Client, batch []*request) error {
	svc := o.svc
	if err := svc.fold.parts[o.part].blockedErr(); err != nil {
		for _, r := range batch {
			r.done <- reply{err: unavailable("this room's log holds an event this server cannot read yet, retry later")}
		}
		return nil
	}
	for _, r := range batch {
		if r.cmd.Kind == KindJoin {
			// One room per user must not depend on clocks: a join decided
			// here must see every join already acknowledged anywhere, so
			// that its id can be floored above the user's latest one.
			if err := svc.barrier(ctx); err != nil {
				for _, r := range batch {
					r.done <- reply{err: unavailable("the event log is not reachable now, retry")}
				}
				return nil
			}
			break
		}
	}
	began := time.Now()
	queued := svc.metrics.stageSeconds.WithLabelValues("queued")
	for _, r := range batch {
		queued.Observe(began.Sub(r.at).Seconds())
	}
	now := svc.now().UTC().Truncate(time.Millisecond)
	var acc []accepted
	work := map[schemas.ID]*room{}
	batchSent := map[sentKey]sent{}
	batchMsgs := map[schemas.ID]*msgMeta{}
	localUsers := users{}
	ps := svc.fold.parts[o.part]
	locate := func(u schemas.ID) (location, bool) {
		if l, ok := localUsers[u]; ok {
			return l, true
		}
		return svc.fold.locate(u)
	}
	dp := deps{
		now: now, nextID: o.gen.Next, observe: o.gen.Observe, locate: locate,
		capacity: svc.cfg.Capacity, render: svc.render,
		findSent: func(k sentKey) (sent, bool, error) {
			if s, ok := batchSent[k]; ok {
				return s, true, nil
			}
			if s, ok := o.dd.win.get(k); ok {
				return s, true, nil
			}
			return o.findOld(ctx, k)
		},
		recordSent: func(k sentKey, s sent) { batchSent[k] = s },
		checkEmit:  svc.checkEmit,
		findMsg: func(id schemas.ID) (*msgMeta, bool, error) {
			if m, ok := batchMsgs[id]; ok {
				return m, true, nil
			}
			return o.findMsg(ctx, id)
		},
		recordMsg:  func(m *msgMeta) { batchMsgs[m.id] = m },
		editWindow: svc.cfg.EditWindow,
	}
	for _, r := range batch {
		if r.ctx.Err() != nil || !r.state.CompareAndSwap(reqQueued, reqTaken) {
			// Its caller stopped waiting: it is never decided.
			r.done <- reply{err: unavailable("request cancelled")}
			continue
		}
		cur, ok := work[r.cmd.RoomID]
		if !ok {
			cur = ps.room(r.cmd.RoomID)
		}
		var c *room
		if cur != nil {
			c = cur.clone()
		}
		d, nr, err := decide(c, r.cmd, dp)
		if err != nil {
			r.done <- reply{err: err}
			continue
		}
		if nr != nil {
			work[r.cmd.RoomID] = nr
		}
		for _, e := range d.events {
			switch e.Payload.(type) {
			case schemas.RoomJoined, schemas.RoomLeft, schemas.MemberRemoved, schemas.MemberBanned:
				if _, ok := localUsers[e.UserID]; !ok {
					if l, ok := svc.fold.locate(e.UserID); ok {
						localUsers[e.UserID] = l
					}
				}
				localUsers.apply(e)
			}
		}
		acc = append(acc, accepted{r, d})
	}

	var events []schemas.Envelope
	for _, a := range acc {
		events = append(events, a.d.events...)
	}
	if len(events) == 0 {
		for _, a := range acc {
			a.req.done <- reply{res: a.d.result}
		}
		return nil
	}
	// The batch's message keys are durable before its events are
	// committed, and the keys of the messages it deletes are destroyed
	// before (docs/adr/0009); the store runs while the records are produced.
	wire, kw, err := o.sealBatch(events)
	if err != nil {
		svc.log.Error("sealing a batch", "partition", o.part, "err", err)
		for _, a := range acc {
			a.req.done <- reply{err: unavailable("the message could not be sealed, retry")}
		}
		return nil
	}
	start := time.Now()
	late := o.answerLate(func() {
		for _, a := range acc {
			a.req.done <- reply{err: retryLater("the event log did not confirm the write in time, retry")}
		}
	})
	keys := o.startKeyStore(ctx, kw)
	recs, err := o.write(ctx, cl, wire, keys.wait)
	answeredLate := late.stop()
	svc.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	if errors.Is(err, errKeyStore) {
		return o.keyStoreFailed(ctx, cl, err, acc, answeredLate)
	}
	if err != nil {
		svc.log.Warn("append failed", "partition", o.part, "events", len(events), "err", err)
		o.recovering.Store(true)
		// Answered before the transaction is settled: a 503 acknowledges
		// nothing, and the settling below may itself wait on the brokers.
		if !answeredLate {
			ans := failedWriteAnswer(err)
			for _, a := range acc {
				a.req.done <- reply{err: ans}
			}
		}
		if !errors.Is(err, errInstanceTxnAborted) && !errors.Is(err, errNotOwner) {
			o.failures++ // (an instance transaction's abort says nothing of this producer)
		}
		if err := o.settle(ctx, cl, err); isFenced(err) || !isRecoverable(err) || o.failures >= 3 {
			return err
		}
		// The transaction was aborted, or its commit has an unknown
		// outcome that the abort settled: catch up with the log (a commit
		// that happened anyway is read back, so a retry of a send finds the
		// original) before deciding anything else.
		cctx, cancel := o.stopContext(ctx)
		defer cancel()
		if err := o.catchUp(cctx); err != nil {
			return fmt.Errorf("catch up after a failed append: %w", err)
		}
		o.recovering.Store(false)
		return nil
	}
	o.erasing = append(o.erasing, keys.erased...)
	o.failures = 0
	o.install(ctx, events, recs)
	if c := svc.cfg.Committed; c != nil {
		c(recs)
	}
	o.recovering.Store(false)
	if answeredLate {
		// Its commands were answered 503 at the write timeout; their
		// retries find what committed (the dedupe window, the rooms).
		svc.log.Info("a batch answered 503 at the write timeout committed afterwards", "partition", o.part, "events", len(events), "took", time.Since(start))
		return nil
	}
	at := 0
	for _, a := range acc {
		n := len(a.d.events)
		a.d.result.Keys = kw.keysOf(at, at+n)
		a.d.result.Records = recs[at : at+n : at+n]
		at += n
		a.req.done <- reply{res: a.d.result}
	}
	return nil
}

// accepted is a command of a batch and what was decided for it.
type accepted struct {
	req *request
	d   decision
}

// install folds a committed batch into the partition's state and the
// dedupe window, before anything else is decided.
func (o *owner) install(ctx context.Context, events []schemas.Envelope, recs []*kgo.Record) {
	svc := o.svc
	switches, err := svc.fold.applyEvents(o.part, events)
	if err != nil {
		svc.log.Error("installing a committed batch", "partition", o.part, "err", err)
	}
	for i, e := range events {
		if p, ok := e.Payload.(schemas.MessageSent); ok {
			o.dd.win.add(sentKey{room: e.RoomID, user: e.UserID, clientMsgID: p.ClientMsgID},
				sent{id: e.ID, seq: e.Seq, text: p.Text, nickname: p.Nickname, at: e.OccurredAt, off: recs[i].Offset})
		}
		// The decisions read every message they change (into the table),
		// so this fold never waits on the store.
		if err := o.foldMessage(ctx, e); err != nil {
			svc.log.Error("folding a committed message event", "partition", o.part, "err", err)
		}
	}
	last := recs[len(recs)-1].Offset + 1
	o.pos, o.dd.pos = last, last
	o.sinceSnap += len(recs)
	for _, sw := range switches {
		svc.requestSwitch(ctx, sw)
	}
}
