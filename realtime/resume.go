package realtime

import (
	"context"
	"errors"
	"time"

	"happychat/schemas"
)

// Resume. A socket that starts behind the tail (since_seq older than the
// room's newest dispatched event, or events that landed between its
// presence snapshot and its registration) catches up before going live:
//
//  1. If the room's recent-events ring still holds the next seq, the frames
//     come from there, with no I/O.
//  2. Otherwise it joins its partition's shared reader (readers.go),
//     positioned by the OffsetLocator (ClickHouse's room_events index; for
//     seq 0, the room's first event) or at the partition's start, takes the
//     room's frames with a seq above the last one queued, and queues them,
//     waiting for the socket's queue rather than dropping. A socket whose
//     queue stays full (a slow client) makes it leave the reader while it
//     waits (queueCatchUp), so that slow clients hold no reader; it joins
//     again, located after the last seq queued, for the next frames.
//  3. Between batches it asks the hub whether it can go live (hub.step);
//     once the ring covers the rest it leaves the reader.
//
// The writer drops what catch-up and the tail both delivered at the seam.

// catchUpPoll bounds one poll of the log; catchUpStalls empty polls in a row
// (the log has nothing more, yet the socket cannot go live) end the resume
// with CloseTryAgain instead of holding a reader forever.
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
	var sub *resumeSub
	defer func() { sub.leave() }()
	usedLog := false
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
			sub.leave()
			sub = nil
			for _, f := range frames {
				if !c.push(item{f: f}) {
					return
				}
				last = f.seq
			}
			continue
		}
		if sub == nil {
			sub = s.joinReader(c.ctx, c.room, last)
			usedLog = true
		}
		frames, emptyPolls, err := sub.take(c.ctx)
		var ok bool
		if last, ok = c.queueCatchUp(frames, last, func() {
			// The socket's queue is full: its client reads slower than the
			// log is read. Leave the reader rather than be fed while the
			// client drains; the next batch joins again (located after the
			// last seq queued).
			sub.leave()
			sub = nil
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
			sub.leave()
			s.m.locatorMisses.Inc()
			sub = s.readers.join(c.ctx, c.room, last, 0, true)
			continue
		case errors.Is(err, errUnknownEvent):
			s.hub.block(c.room, 0)
			s.blockRoom(c.room, err)
			c.fail(CloseTryAgain, blockedReason, false)
			return
		case err != nil:
			s.log.Warn("resume: read the log", "room", c.room, "err", err)
			c.fail(CloseTryAgain, "resume unavailable, retry with since_seq", false)
			return
		}
		if sub != nil && len(frames) == 0 && emptyPolls >= catchUpStalls {
			s.log.Warn("resume stalled before reaching the live tail", "room", c.room, "at", last, "snapshot", c.snap)
			c.fail(CloseTryAgain, "resume stalled, retry with since_seq", false)
			return
		}
	}
}

// joinReader joins room's partition reader for the events after seq
// after, at the offset the locator gives (the partition's start when it
// knows none or fails).
func (s *Service) joinReader(ctx context.Context, room schemas.ID, after int64) *resumeSub {
	part := schemas.Partition(room, s.parts)
	off, ok, err := locateRetrying(ctx, s.cfg.Locator, room, part, after, 2*time.Second)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("resume: locator failed; reading from the partition start", "room", room, "err", err)
	}
	if err != nil || !ok {
		return s.readers.join(ctx, room, after, 0, true)
	}
	return s.readers.join(ctx, room, after, off, false)
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
