package command

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// maxBatch bounds the commands decided and appended in one transaction.
const maxBatch = 512

// commitTimeout bounds one batch's produce and commit. The batch runs on a
// context of its own: a revoke lets it finish (commit or abort, with its
// answers) instead of cancelling it into an unknown outcome.
const commitTimeout = 12 * time.Second

type reply struct {
	res Result
	err error
}

type request struct {
	ctx  context.Context
	cmd  Command
	done chan reply // buffered: the owner never blocks on a gone caller
}

// owner serves one partition of the rooms topic while the group assigns it
// to this instance. It never gives up on its own: after any failure it
// takes the partition over again with a fresh producer, until it is
// revoked (docs/command.md, "Owner lifecycle").
type owner struct {
	svc  *Service
	part int32
	gen  *schemas.IDGen
	reqs chan *request

	stop   chan struct{} // closed by a revoke or the shutdown
	cancel context.CancelFunc
	done   chan struct{}
	ready  atomic.Bool

	// Owner goroutine only.
	dd        *dedupe
	pos       int64 // offset after the owner's last commit: a snapshot's offset
	sinceSnap int   // records appended since the last snapshot
	lastSnap  time.Time
	snapping  bool
	snapc     chan snapDone
	failures  int         // appends failed in a row on this producer: three start the owner over
	sweep     atomic.Bool // a switch-leave failed: look for superseded members again
}

// errNotOwner is answered when the partition moved away mid-request; the
// client retries and reaches the new owner.
var errNotOwner = schemas.Errorf(schemas.CodeUnavailable, "the room is moving to another server, retry")

func unavailable(msg string) *schemas.Error { return schemas.Errorf(schemas.CodeUnavailable, msg) }

func newOwner(svc *Service, part int32) (*owner, error) {
	// Node id = partition: unique among live owners by the group's
	// assignment; a stale owner minting the same ids is fenced, and the
	// new owner's generator is floored at the partition's last id.
	gen, err := schemas.NewIDGen(int64(part), schemas.WithClock(svc.cfg.Clock))
	if err != nil {
		return nil, err
	}
	return &owner{svc: svc, part: part, gen: gen, reqs: make(chan *request, 4096),
		stop: make(chan struct{}), done: make(chan struct{}), snapc: make(chan snapDone, 1)}, nil
}

// submit hands a command to the owner and waits for its answer. An owner
// that is taking over (or over again, after a failure) is waited for a
// little; a command is never queued for an owner that may stay unready
// (a blocked partition), since its caller would wait without bound.
func (o *owner) submit(ctx context.Context, cmd Command) (Result, error) {
	if err := o.waitReady(ctx); err != nil {
		return Result{}, err
	}
	r := &request{ctx: ctx, cmd: cmd, done: make(chan reply, 1)}
	select {
	case o.reqs <- r:
	case <-o.done:
		return Result{}, errNotOwner
	case <-ctx.Done():
		return Result{}, unavailable("request cancelled")
	}
	select {
	case rep := <-r.done:
		return rep.res, rep.err
	case <-o.done:
		// The owner stopped; it answers every request it took before that.
		select {
		case rep := <-r.done:
			return rep.res, rep.err
		default:
			return Result{}, errNotOwner
		}
	case <-ctx.Done():
		return Result{}, unavailable("request cancelled before the append was confirmed")
	}
}

func (o *owner) waitReady(ctx context.Context) error {
	if o.ready.Load() {
		return nil
	}
	deadline := time.NewTimer(ownerWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !o.ready.Load() {
		if err := o.svc.fold.parts[o.part].blockedErr(); err != nil {
			return unavailable("this room's log holds an event this server cannot read yet, retry later")
		}
		select {
		case <-tick.C:
		case <-o.done:
			return errNotOwner
		case <-ctx.Done():
			return unavailable("request cancelled")
		case <-deadline.C:
			return unavailable("the room's server is taking over the room, retry")
		}
	}
	return nil
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
	cl, err := o.svc.txnClient(o.part)
	if err != nil {
		return fmt.Errorf("transactional client: %w", err)
	}
	defer cl.Close()
	if err := o.takeOver(ctx, cl); err != nil {
		return fmt.Errorf("take over: %w", err)
	}
	o.ready.Store(true)
	o.svc.metrics.owned.Inc()
	defer o.svc.metrics.owned.Dec()
	o.svc.log.Info("owning partition", "partition", o.part, "offset", o.pos, "window", o.dd.win.len())
	o.svc.resolveSuperseded(o.part)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
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
			if o.sweep.Swap(false) {
				o.svc.resolveSuperseded(o.part)
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
		o.maybeSnapshot(ctx)
	}
}

// takeOver fences earlier owners (initialising the producer id bumps the
// epoch of the partition's transactional id and aborts its open
// transaction), waits until the tail holds every committed event of the
// partition, and brings the dedupe window up to the same offset.
func (o *owner) takeOver(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := o.stopContext(ctx)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("init producer id: %w", err)
	}
	return o.catchUp(ctx)
}

// catchUp waits for the tail to reach the partition's last stable offset,
// then replays the sends the dedupe window lacks up to it, and floors the
// id generator at the partition's last id.
func (o *owner) catchUp(ctx context.Context) error {
	svc := o.svc
	lso, err := svc.stableOffset(ctx, o.part)
	if err != nil {
		return err
	}
	if err := svc.tail.waitFor(ctx, o.part, lso); err != nil {
		return err
	}
	if o.dd == nil {
		dd, err := svc.store.loadDedupe(ctx, o.part, lso)
		if err != nil {
			return err
		}
		o.dd = dd
	}
	if o.dd.pos < lso {
		n, err := o.replay(ctx, o.dd.pos, lso)
		if err != nil {
			return fmt.Errorf("replay sends %d..%d: %w", o.dd.pos, lso, err)
		}
		svc.metrics.ownerReplayed.Add(float64(n))
		o.dd.pos = lso
	}
	o.pos = lso
	ps := svc.fold.parts[o.part]
	ps.mu.RLock()
	o.gen.Observe(ps.lastID)
	ps.mu.RUnlock()
	return nil
}

// stopContext returns ctx, also cancelled when the owner is stopped: for
// the waits of a takeover, never for a batch's produce and commit.
func (o *owner) stopContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-o.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
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
	now := svc.now().UTC().Truncate(time.Millisecond)
	type accepted struct {
		req *request
		d   decision
	}
	var acc []accepted
	work := map[schemas.ID]*room{}
	batchSent := map[sentKey]sent{}
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
	}
	for _, r := range batch {
		if r.ctx.Err() != nil {
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
			case schemas.RoomJoined, schemas.RoomLeft:
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
	start := time.Now()
	recs, err := o.append(cl, events)
	svc.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	svc.metrics.batchEvents.Observe(float64(len(events)))
	if err != nil {
		svc.log.Warn("append failed", "partition", o.part, "events", len(events), "err", err)
		for _, a := range acc {
			a.req.done <- reply{err: unavailable("the event log did not confirm the write, retry")}
		}
		o.failures++
		if isFenced(err) || !isRecoverable(err) || o.failures >= 3 {
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
		return nil
	}
	o.failures = 0
	o.install(events, recs)
	for _, a := range acc {
		a.req.done <- reply{res: a.d.result}
	}
	return nil
}

// install folds a committed batch into the partition's state and the
// dedupe window, before anything else is decided.
func (o *owner) install(events []schemas.Envelope, recs []*kgo.Record) {
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
	}
	last := recs[len(recs)-1].Offset + 1
	o.pos, o.dd.pos = last, last
	o.sinceSnap += len(recs)
	for _, sw := range switches {
		svc.requestSwitch(context.Background(), sw)
	}
}

// decide dispatches a command to its use case. It returns the new room for
// the batch's working set (the decided copy), or nil when nothing changed.
func decide(r *room, cmd Command, dp deps) (decision, *room, error) {
	var (
		d   decision
		err error
	)
	switch cmd.Kind {
	case KindCreateRoom:
		return decideCreateRoom(r, cmd, dp)
	case KindApproveRoom:
		d, err = decideApproveRoom(r, cmd, dp)
	case KindJoin:
		d, err = decideJoin(r, cmd, dp)
	case KindLeave:
		d, err = decideLeave(r, cmd, dp)
	case KindSend:
		d, err = decideSend(r, cmd, dp)
	case kindSwitchLeave:
		d, err = decideSwitchLeave(r, cmd, dp)
	case KindPresence:
		d, err = decidePresence(r)
	default:
		err = badRequest("unknown command")
	}
	if err != nil || len(d.events) == 0 {
		return d, nil, err
	}
	return d, r, nil
}

// append writes the events in one transaction and commits it, following
// franz-go's protocol: a failed produce aborts; a commit whose outcome is
// unconfirmed is retried as TryAbort, which settles it (the producer id is
// reloaded, fencing anything still open). It returns the produced records,
// whose offsets are set.
func (o *owner) append(cl *kgo.Client, events []schemas.Envelope) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		// The producer refuses new transactions (a fatal error, such as the
		// epoch bump of a transaction the coordinator timed out).
		return nil, errors.Join(fmt.Errorf("begin transaction: %w", err), errNeedsNewProducer)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	recs := make([]*kgo.Record, 0, len(events))
	for _, e := range events {
		rec, err := o.svc.record(o.part, e)
		if err != nil {
			firstErr = err
			break
		}
		recs = append(recs, rec)
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	flushErr := cl.Flush(ctx)
	mu.Lock()
	perr := errors.Join(firstErr, flushErr)
	mu.Unlock()
	if perr != nil {
		cl.AbortBufferedRecords(ctx) //nolint:errcheck // the abort below reports
		if endErr := cl.EndTransaction(ctx, kgo.TryAbort); endErr != nil {
			return nil, errors.Join(fmt.Errorf("produce: %w", perr), fmt.Errorf("abort: %w", endErr), errNeedsNewProducer)
		}
		return nil, fmt.Errorf("produce (aborted): %w", perr)
	}
	if h := o.svc.cfg.hooks.beforeCommit; h != nil {
		h(o.part)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// Unconfirmed or refused commit: the documented retry is TryAbort.
		if abortErr := cl.EndTransaction(ctx, kgo.TryAbort); abortErr != nil {
			return nil, errors.Join(fmt.Errorf("commit: %w", err), fmt.Errorf("abort: %w", abortErr), errNeedsNewProducer)
		}
		return nil, fmt.Errorf("commit (settled by an abort): %w", err)
	}
	return recs, nil
}

// errNeedsNewProducer marks an append failure the producer cannot recover
// from by itself: the owner starts over with a fresh one.
var errNeedsNewProducer = errors.New("the producer must be recreated")

// isFenced reports errors that mean a newer owner took the partition's
// transactional id. Under transaction protocol v2, InvalidProducerEpoch
// and InvalidProducerIDMapping also follow a transaction timeout or an
// expired transactional id: those are no loss of ownership, but the
// producer is unusable, so every one of them starts the owner over.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// isRecoverable reports an append failure after which the same producer
// may begin a new transaction.
func isRecoverable(err error) bool {
	if errors.Is(err, errNeedsNewProducer) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.UnknownProducerID) ||
		errors.Is(err, kerr.InvalidTxnState) {
		return false
	}
	return true
}

// record turns an event into the partition's Kafka record.
func (s *Service) record(part int32, e schemas.Envelope) (*kgo.Record, error) {
	b, err := schemas.Events.Encode(e)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic: s.cfg.Names.Rooms, Partition: part, Key: schemas.Key(e.RoomID), Value: b,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderType, Value: []byte(e.Type)},
			{Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(schemas.Events.Version(e.Payload.EventType())))},
		},
	}, nil
}

// txnClient returns the partition's transactional producer. The id is the
// same for every owner of the partition, which is what fences stale ones.
func (s *Service) txnClient(part int32) (*kgo.Client, error) {
	opts := append(s.baseOpts(),
		kgo.TransactionalID(s.cfg.Names.CommandGroup+".p"+strconv.Itoa(int(part))),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Long enough to outlast a partition leader's failover (the
		// controller fences a dead broker after broker.session.timeout.ms,
		// 9 s by default): the batch then lands on the new leader instead
		// of being aborted and retried. Within commitTimeout.
		kgo.RecordDeliveryTimeout(8*time.Second),
		kgo.ProducerLinger(0),
	)
	return kgo.NewClient(opts...)
}

// snapshotState copies what a snapshot of the owner's partition needs.
func (o *owner) capture() *capture {
	ps := o.svc.fold.parts[o.part]
	ps.mu.RLock()
	rooms := make([]*room, 0, len(ps.rooms))
	for _, r := range ps.rooms {
		rooms = append(rooms, r)
	}
	c := &capture{part: o.part, offset: o.pos, lastID: ps.lastID, rooms: rooms, users: maps.Clone(ps.users)}
	ps.mu.RUnlock()
	c.window = o.dd.win.list()
	c.evict = o.dd.win.evictable(o.svc.now().Add(-o.svc.cfg.DedupeWindow), o.svc.cfg.DedupeWindowEntries, o.svc.cfg.DedupeWindowBytes)
	c.bloom = o.dd.bloom
	c.takenAt = o.svc.now()
	return c
}
