package realtime

import (
	"net"
	"sync"
	"time"
)

// The send queue. Every frame for a socket goes through its queue; a writer
// goroutine exists only while the queue has frames (or the close frame is
// due), and it writes everything queued with one writev. An idle socket so
// holds no writer, no write buffer and no queue array: its memory is the
// reader's goroutine and a few small structs (docs/realtime.md, "Memory").
//
// Fields (in conn): qmu guards q, writing, closed, idle, space and pinger. lastSeq is the
// running writer's alone (the mutex hands it from one writer to the next).

// batchPool recycles queue arrays and the writev vectors built from them, so
// that a busy socket allocates nothing per frame and an idle one keeps
// neither.
var batchPool = sync.Pool{New: func() any { return new(batch) }}

type batch struct {
	items []item
	bufs  net.Buffers
}

// maxPooledBatch keeps a burst's oversized arrays out of the pool.
const maxPooledBatch = 512

func (b *batch) release() {
	if cap(b.items) > maxPooledBatch {
		return
	}
	clear(b.items)
	b.items = b.items[:0]
	clear(b.bufs[:cap(b.bufs)])
	b.bufs = b.bufs[:0]
	batchPool.Put(b)
}

// offer queues a frame without waiting (the hub's fan-out): false when the
// queue is full. A closing socket takes nothing and reports true: there is
// nothing to cut off.
func (c *conn) offer(it item) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.closing() {
		return true
	}
	if c.q != nil && len(c.q.items) >= c.qcap {
		return false
	}
	c.enqueueLocked(it)
	return true
}

// push queues a frame, waiting for room in the queue. Only frames of this
// socket alone go through push (presence, acks, errors, catch-up); the
// hub's fan-out never waits. False when the socket closed first.
func (c *conn) push(it item) bool {
	_, open := c.pushUntil(it, nil)
	return open
}

// pushUntil is push that gives up when timeout fires (nil: never):
// queued says whether the frame was queued, open whether the socket is
// still open.
func (c *conn) pushUntil(it item, timeout <-chan time.Time) (queued, open bool) {
	for {
		c.qmu.Lock()
		if c.closing() {
			c.qmu.Unlock()
			return false, false
		}
		if c.q == nil || len(c.q.items) < c.qcap {
			c.enqueueLocked(it)
			c.qmu.Unlock()
			return true, true
		}
		if c.space == nil {
			c.space = make(chan struct{}, 1)
		}
		space := c.space
		c.qmu.Unlock()
		select {
		case <-space:
		case <-c.done:
			return false, false
		case <-timeout:
			return false, true
		}
	}
}

func (c *conn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) enqueueLocked(it item) {
	if c.q == nil {
		c.q = batchPool.Get().(*batch)
	}
	c.q.items = append(c.q.items, it)
	c.startWriterLocked()
}

// startWriterLocked starts the writer unless one runs or the socket is
// finished with.
func (c *conn) startWriterLocked() {
	if c.writing || c.closed || c.t == nil { // t == nil: a unit test's transport-less conn
		return
	}
	c.writing = true
	go c.writer()
}

// writer writes queued frames until the queue is empty, then exits. Once
// the socket fails it runs the close sequence instead and the socket gets
// no writer again.
func (c *conn) writer() {
	for {
		c.qmu.Lock()
		b := c.q
		c.q = nil
		if c.closing() {
			c.closed = true
			c.qmu.Unlock()
			c.closeSequence(b)
			c.qmu.Lock()
			c.stopWriterLocked()
			c.qmu.Unlock()
			return
		}
		if b == nil {
			c.stopWriterLocked()
			c.qmu.Unlock()
			return
		}
		space := c.space
		c.qmu.Unlock()
		if space != nil {
			select {
			case space <- struct{}{}:
			default:
			}
		}
		err := c.writeBatch(b, time.Now().Add(c.s.cfg.WriteTimeout))
		b.release()
		if err != nil {
			c.fail(0, "", false)
		}
	}
}

func (c *conn) stopWriterLocked() {
	c.writing = false
	if c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// waitWriter returns once no writer runs. Called at teardown, after fail:
// the writer then is running the close sequence, and none starts after it.
func (c *conn) waitWriter() {
	c.qmu.Lock()
	if !c.writing {
		c.qmu.Unlock()
		return
	}
	ch := make(chan struct{})
	c.idle = ch
	c.qmu.Unlock()
	<-ch
}

// closeSequence flushes what is queued (unless the close code says the
// socket must get no more) and writes the close frame, both within the
// close grace.
func (c *conn) closeSequence(b *batch) {
	if b != nil {
		defer b.release()
	}
	if c.code == 0 || c.closeSent {
		return
	}
	deadline := time.Now().Add(closeGrace)
	switch c.code {
	case CloseSlowConsumer, CloseNotMember, CloseRemoved, CloseTokenExpired, CloseTokenRevoked:
		// A slow consumer's queue is exactly what it could not take; a
		// former member or an expired or revoked token gets no more.
	default:
		// The error frames before a policy close, the events before a
		// shutdown.
		if b != nil {
			if err := c.writeBatch(b, deadline); err != nil {
				return
			}
		}
	}
	c.t.writeClose(c.code, c.reason, deadline)
}

// writeBatch writes a batch's frames with one writev. It delivers each
// room event once and in seq order: lastSeq is the newest seq written, so
// the overlap where catch-up meets the live tail is dropped here, and a gap
// (which only a gap in the log itself can cause) is counted.
func (c *conn) writeBatch(b *batch, deadline time.Time) error {
	m := c.s.m
	events, leaving, removed := 0, false, false
	for i := range b.items {
		it := &b.items[i]
		f := it.f
		if f.seq > 0 {
			if f.seq <= c.lastSeq {
				continue
			}
			if f.seq != c.lastSeq+1 {
				m.gaps.Inc()
				c.s.log.Error("socket skipped seqs", "room", c.room, "after", c.lastSeq, "got", f.seq)
			}
			c.lastSeq = f.seq
			it.written = true
			events++
		}
		b.bufs = c.t.appendFrame(b.bufs, f)
		if f.leaver == c.caller.UserID && f.seq > c.snap {
			// The member_left of this socket's own user: it is no longer a
			// member, and nothing after it is for this socket. (Only event
			// frames carry a leaver, and snap ≥ 0, so f.seq > 0 here.)
			leaving, removed = true, f.removed
			break
		}
	}
	if len(b.bufs) > 0 {
		if err := c.t.write(b.bufs, deadline); err != nil {
			return err
		}
	}
	if events > 0 {
		m.deliveries.Add(float64(events))
		now := time.Now()
		for _, it := range b.items {
			if it.written && it.live {
				m.delay.Observe(now.Sub(it.f.at).Seconds())
			}
		}
	}
	switch {
	case removed:
		c.fail(CloseRemoved, "removed from the room", false)
	case leaving:
		c.fail(CloseNotMember, "left the room", false)
	}
	return nil
}
