package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// maxBatch bounds the commands decided and appended in one transaction.
const maxBatch = 512

type reply struct {
	res Result
	err error
}

type request struct {
	ctx  context.Context
	cmd  Command
	done chan reply // buffered: the owner never blocks on a gone caller
}

// owner serves one partition of the rooms topic while this instance owns it.
type owner struct {
	svc  *Service
	part int32
	gen  *schemas.IDGen
	reqs chan *request

	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{}
}

// errNotOwner is answered when the partition moved away mid-request; the
// client retries and reaches the new owner.
var errNotOwner = schemas.Errorf(schemas.CodeUnavailable, "the room is moving to another server, retry")

func unavailable(msg string) *schemas.Error { return schemas.Errorf(schemas.CodeUnavailable, msg) }

func newOwner(svc *Service, part int32) (*owner, error) {
	// Node id = partition: unique among live owners by the group's
	// assignment; a stale owner minting the same ids is fenced.
	gen, err := schemas.NewIDGen(int64(part), 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &owner{svc: svc, part: part, gen: gen, reqs: make(chan *request, 4096),
		done: make(chan struct{}), ready: make(chan struct{})}, nil
}

// submit hands a command to the owner and waits for its answer.
func (o *owner) submit(ctx context.Context, cmd Command) (Result, error) {
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

// run fences earlier owners, waits until the tail holds every committed
// event of the partition, then serves batches until ctx ends or the owner
// is fenced.
func (o *owner) run(ctx context.Context) {
	defer close(o.done)
	defer o.drain()
	log := o.svc.log.With("partition", o.part)
	cl, err := o.svc.txnClient(o.part)
	if err != nil {
		log.Error("transactional client", "err", err)
		return
	}
	defer cl.Close()
	if err := o.sync(ctx, cl); err != nil {
		if ctx.Err() == nil {
			log.Error("cannot take ownership", "err", err)
		}
		return
	}
	close(o.ready)
	o.svc.metrics.owned.Inc()
	defer o.svc.metrics.owned.Dec()
	log.Info("owning partition")
	o.svc.resolveSuperseded(o.part)
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
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
		if fenced := o.process(ctx, cl, batch); fenced {
			log.Warn("fenced by a newer owner: stopped serving the partition")
			o.svc.dropOwner(o)
			return
		}
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

// sync fences any earlier owner (InitProducerID bumps the epoch of the
// partition's transactional id and aborts its open transaction), then waits
// until the tail has applied the partition up to its last stable offset.
func (o *owner) sync(ctx context.Context, cl *kgo.Client) error {
	for {
		_, _, err := cl.ProducerID(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o.svc.log.Warn("init producer id", "partition", o.part, "err", err)
		time.Sleep(200 * time.Millisecond)
	}
	lso, err := o.svc.stableOffset(ctx, o.part)
	if err != nil {
		return err
	}
	return o.svc.tail.waitFor(ctx, o.part, lso)
}

// process decides a batch, appends its events in one transaction and
// answers. It reports whether the owner was fenced.
func (o *owner) process(ctx context.Context, cl *kgo.Client, batch []*request) (fenced bool) {
	svc := o.svc
	now := time.Now().UTC().Truncate(time.Millisecond)
	type accepted struct {
		req *request
		d   decision
	}
	var acc []accepted
	work := map[schemas.ID]*room{}
	overlay := map[schemas.ID]map[sentKey]sent{}
	localUsers := map[schemas.ID]location{}

	svc.mu.Lock()
	locate := func(u schemas.ID) (location, bool) {
		if l, ok := localUsers[u]; ok {
			return l, true
		}
		l, ok := svc.users[u]
		return l, ok
	}
	dp := deps{now: now, nextID: o.gen.Next, locate: locate, capacity: svc.cfg.Capacity, render: svc.render}
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- reply{err: unavailable("request cancelled")}
			continue
		}
		cur, ok := work[r.cmd.RoomID]
		if !ok {
			cur = svc.rooms[r.cmd.RoomID]
		}
		var c *room
		if cur != nil {
			c = cur.clone()
		}
		d, nr, err := decide(c, r.cmd, dp, overlayFor(overlay, r.cmd.RoomID))
		if err != nil {
			r.done <- reply{err: err}
			continue
		}
		if nr != nil {
			work[r.cmd.RoomID] = nr
		}
		for _, e := range d.events {
			users(localUsers).applyLocal(svc.users, e)
		}
		acc = append(acc, accepted{r, d})
	}
	svc.mu.Unlock()

	var events []schemas.Envelope
	for _, a := range acc {
		events = append(events, a.d.events...)
	}
	if len(events) > 0 {
		start := time.Now()
		err := o.append(ctx, cl, events)
		svc.metrics.commitSeconds.Observe(time.Since(start).Seconds())
		svc.metrics.batchEvents.Observe(float64(len(events)))
		if err != nil {
			fenced = isFenced(err)
			svc.log.Warn("append failed", "partition", o.part, "events", len(events), "fenced", fenced, "err", err)
			for _, a := range acc {
				a.req.done <- reply{err: unavailable("the event log did not confirm the write, retry")}
			}
			if !fenced {
				// The commit may have happened anyway: resynchronise from
				// the log before deciding anything else.
				if err := o.sync(ctx, cl); err != nil && ctx.Err() == nil {
					svc.log.Error("resync after failed append", "partition", o.part, "err", err)
					return true
				}
			}
			return fenced
		}
		svc.install(work, overlay, events)
	}
	for _, a := range acc {
		a.req.done <- reply{res: a.d.result}
	}
	return false
}

// decide dispatches a command to its use case. It returns the new room for
// the batch's working set (the decided copy), or nil when nothing changed.
func decide(r *room, cmd Command, dp deps, overlay map[sentKey]sent) (decision, *room, error) {
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
		d, err = decideSend(r, cmd, dp, overlay)
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

func overlayFor(m map[schemas.ID]map[sentKey]sent, room schemas.ID) map[sentKey]sent {
	o, ok := m[room]
	if !ok {
		o = map[sentKey]sent{}
		m[room] = o
	}
	return o
}

// applyLocal records a batch's membership change in the batch's overlay of
// user locations (seeded from the committed fold).
func (u users) applyLocal(committed users, e schemas.Envelope) {
	switch e.Payload.(type) {
	case schemas.RoomJoined, schemas.RoomLeft:
		if _, ok := u[e.UserID]; !ok {
			if l, ok := committed[e.UserID]; ok {
				u[e.UserID] = l
			}
		}
		u.apply(e)
	}
}

// append writes the events in one transaction and commits it.
func (o *owner) append(ctx context.Context, cl *kgo.Client, events []schemas.Envelope) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	for _, e := range events {
		rec, err := o.svc.record(o.part, e)
		if err != nil {
			firstErr = err
			break
		}
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
	how := kgo.TryCommit
	if perr != nil {
		how = kgo.TryAbort
	}
	endErr := cl.EndTransaction(ctx, how)
	if perr != nil {
		return errors.Join(fmt.Errorf("produce: %w", perr), endErr)
	}
	if endErr != nil {
		return fmt.Errorf("commit: %w", endErr)
	}
	return nil
}

// isFenced reports errors that mean a newer owner took the partition's
// transactional id: this owner must stop, and its writes never count.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.InvalidProducerIDMapping)
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
		kgo.TransactionTimeout(15*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(5*time.Second),
		kgo.ProducerLinger(0),
	)
	return kgo.NewClient(opts...)
}

// stableOffset returns the partition's last stable offset.
func (s *Service) stableOffset(ctx context.Context, part int32) (int64, error) {
	offs, err := kadm.NewClient(s.admin).ListCommittedOffsets(ctx, s.cfg.Names.Rooms)
	if err != nil {
		return 0, fmt.Errorf("list stable offsets: %w", err)
	}
	o, ok := offs.Lookup(s.cfg.Names.Rooms, part)
	if !ok || o.Err != nil {
		return 0, fmt.Errorf("stable offset of partition %d: %w", part, o.Err)
	}
	return o.Offset, nil
}
