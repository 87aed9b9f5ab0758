package realtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Resume. A socket that starts behind the tail (since_seq older than the
// room's newest dispatched event, or events that landed between its
// presence snapshot and its registration) catches up before going live:
//
//  1. If the room's recent-events ring still holds the next seq, the frames
//     come from there, with no I/O.
//  2. Otherwise it reads the room's partition with a consumer of its own
//     (read_committed, no group), starting where the OffsetLocator says
//     (ClickHouse's room_events index; for seq 0, the room's first event) or
//     at the partition's start, keeps the room's events with a seq above the
//     last one queued, and queues them, waiting for the socket's queue
//     rather than dropping. A socket whose queue stays full (a slow client)
//     makes it close the consumer and give its slot back while it waits
//     (queueCatchUp), so that slow clients cannot starve other resumes.
//  3. Between batches it asks the hub whether it can go live (hub.step);
//     once the ring covers the rest it drops the consumer.
//
// The writer drops what catch-up and the tail both delivered at the seam.

// catchUpPoll bounds one poll of the log; catchUpStalls empty polls in a row
// (the log has nothing more, yet the socket cannot go live) end the resume
// with CloseTryAgain instead of holding a consumer forever.
const (
	catchUpPoll   = 2 * time.Second
	catchUpStalls = 5
)

// catchUp runs one socket's resume; from is the last seq it already has.
func (c *conn) catchUp(from int64) {
	defer c.wg.Done()
	s := c.s
	s.m.catchUps.Inc()
	defer s.m.catchUps.Dec()
	last := from
	var rd *logReader
	defer func() { rd.close() }()
	usedLog := false
	stalls := 0
	for {
		live, frames := s.hub.step(c, last, c.snap)
		if live {
			path := "ring"
			if usedLog {
				path = "log"
			}
			s.m.resumes.WithLabelValues(path).Inc()
			return
		}
		if len(frames) > 0 {
			rd.close()
			rd = nil
			for _, f := range frames {
				if !c.push(item{f: f}) {
					return
				}
				last = f.seq
			}
			continue
		}
		if rd == nil {
			var err error
			if rd, err = s.openReader(c.ctx, c.room, last); err != nil {
				if c.ctx.Err() == nil {
					s.log.Warn("resume: open the log", "room", c.room, "err", err)
					c.fail(CloseTryAgain, "resume unavailable, retry with since_seq", false)
				}
				return
			}
			usedLog = true
		}
		frames, err := rd.next(c.ctx, last)
		polledNothing := rd.polledNothing
		var ok bool
		if last, ok = c.queueCatchUp(frames, last, func() {
			// The socket's queue is full: its client reads slower than the
			// log is read. Give the reader and its slot back rather than
			// hold them while the client drains; the next batch reopens
			// one (located after the last seq queued).
			rd.close()
			rd = nil
			s.m.yields.Inc()
		}); !ok {
			return
		}
		switch {
		case c.ctx.Err() != nil:
			return
		case errors.Is(err, errLocatedTooLate):
			// The index pointed past the next event: read from the start.
			s.log.Warn("resume: located offset is past the next event; rereading from the partition start", "room", c.room, "after", last)
			rd.close()
			rd = nil
			s.m.locatorMisses.Inc()
			if rd, err = s.openReaderAt(c.ctx, c.room, kgo.NewOffset().AtStart(), true); err != nil {
				c.fail(CloseTryAgain, "resume unavailable, retry with since_seq", false)
				return
			}
			continue
		case errors.Is(err, errUnknownEvent):
			s.hub.block(c.room, 0)
			s.blockRoom(c.room, err)
			c.fail(CloseTryAgain, blockedReason, false)
			return
		case err != nil:
			s.log.Warn("resume: read the log", "room", c.room, "err", err)
		}
		if polledNothing {
			stalls++
			if stalls >= catchUpStalls {
				s.log.Warn("resume stalled before reaching the live tail", "room", c.room, "at", last, "snapshot", c.snap)
				c.fail(CloseTryAgain, "resume stalled, retry with since_seq", false)
				return
			}
		} else {
			stalls = 0
		}
	}
}

// catchUpYieldAfter is how long a resume waits for room in its socket's
// queue before it gives its log reader back: long enough for a client that
// reads at network speed to take a batch (so a large resume keeps its
// reader), short enough that a stalled client does not hold a slot.
const catchUpYieldAfter = 250 * time.Millisecond

// queueCatchUp queues frames read from the log, in order, and returns the
// seq of the last one queued; false when the socket closed first. When the
// queue stays full for catchUpYieldAfter it calls full (which gives the log
// reader back) once, then waits for room for the rest without a deadline:
// the frames are the socket's own, nothing is dropped.
func (c *conn) queueCatchUp(frames []*frame, last int64, full func()) (int64, bool) {
	yielded := false
	for _, f := range frames {
		it := item{f: f}
		switch {
		case c.offer(it): // room in the queue (or the socket is closing: checked below)
			if c.closing() {
				return last, false
			}
		case yielded:
			if !c.push(it) {
				return last, false
			}
		default:
			t := time.NewTimer(catchUpYieldAfter)
			queued, open := c.pushUntil(it, t.C)
			t.Stop()
			if !open {
				return last, false
			}
			if !queued {
				full()
				yielded = true
				if !c.push(it) {
					return last, false
				}
			}
		}
		last = f.seq
	}
	return last, true
}

// errLocatedTooLate: the first event of the room read after a located
// offset is beyond the next seq, so the index was wrong (say, rows from a
// previous incarnation of the topic).
var errLocatedTooLate = errors.New("located offset is past the next event")

// logReader reads one room's events from its partition for one resume. It
// holds a slot of the catch-up semaphore while open.
type logReader struct {
	s    *Service
	cl   *kgo.Client
	room schemas.ID
	key  []byte
	// anchored: an event at or before the next seq was seen (or reading
	// began at the partition's start), so a later jump in seq is a gap in
	// the log itself, not a wrong starting point.
	anchored      bool
	polledNothing bool
}

// openReader starts a reader positioned by the locator for events after seq.
func (s *Service) openReader(ctx context.Context, room schemas.ID, after int64) (*logReader, error) {
	part := schemas.Partition(room, s.parts)
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	off, ok, err := s.cfg.Locator.Locate(lctx, room, part, after)
	cancel()
	if err != nil {
		s.log.Warn("resume: locator failed; reading from the partition start", "room", room, "err", err)
		ok = false
	}
	if !ok {
		return s.openReaderAt(ctx, room, kgo.NewOffset().AtStart(), true)
	}
	return s.openReaderAt(ctx, room, kgo.NewOffset().At(off), false)
}

func (s *Service) openReaderAt(ctx context.Context, room schemas.ID, at kgo.Offset, fromStart bool) (*logReader, error) {
	select {
	case s.catchUpSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	part := schemas.Partition(room, s.parts)
	opts := append(s.kafkaOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Names.Rooms: {part: at}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		<-s.catchUpSlots
		return nil, fmt.Errorf("resume consumer: %w", err)
	}
	return &logReader{s: s, cl: cl, room: room, key: schemas.Key(room), anchored: fromStart}, nil
}

func (r *logReader) close() {
	if r == nil {
		return
	}
	r.cl.Close()
	<-r.s.catchUpSlots
}

// next polls once and returns the room's frames with seq above last, in
// order. A jump in seq before the reader is anchored is errLocatedTooLate
// (with the frames before it); after, it is a gap in the log, delivered
// across and counted.
func (r *logReader) next(ctx context.Context, last int64) ([]*frame, error) {
	pctx, cancel := context.WithTimeout(ctx, catchUpPoll)
	fetches := r.cl.PollFetches(pctx)
	cancel()
	var firstErr error
	fetches.EachError(func(_ string, _ int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && firstErr == nil {
			firstErr = err
		}
	})
	r.polledNothing = fetches.NumRecords() == 0
	var out []*frame
	for it := fetches.RecordIter(); !it.Done(); {
		rec := it.Next()
		if !bytes.Equal(rec.Key, r.key) {
			continue
		}
		env, err := schemas.Events.Decode(rec.Value)
		if err != nil {
			r.s.m.decodeErrors.Inc()
			// An event of the room this build does not know, which the
			// client still needs: delivering what follows would skip it.
			if _, seq, ok := schemas.RoomSeqOf(rec.Value); ok && seq > last && errors.Is(err, schemas.ErrUnknownEvent) {
				return out, fmt.Errorf("%w: seq %d: %w", errUnknownEvent, seq, err)
			}
			continue
		}
		if env.RoomID != r.room {
			continue
		}
		if env.Seq <= last+1 {
			r.anchored = true
		}
		if env.Seq <= last {
			continue
		}
		if env.Seq != last+1 {
			if !r.anchored {
				return out, errLocatedTooLate
			}
			r.s.m.gaps.Inc()
			r.s.log.Error("gap in a room's seq on the log (resume)", "room", r.room, "after", last, "got", env.Seq)
		}
		f, err := renderEvent(env, r.s.cfg.Rules)
		if err != nil {
			return out, err
		}
		out = append(out, f)
		last = env.Seq
	}
	return out, firstErr
}
