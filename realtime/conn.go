package realtime

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"happychat/schemas"
)

// closeGrace bounds the closing handshake: the close frame's write, the wait
// for the client's answer, and the drain that keeps the kernel from
// resetting the connection under a close frame the client has not read yet.
const closeGrace = time.Second

// item is one entry of a socket's send queue. live marks frames the tail
// dispatched just now (their age is the end-to-end delay).
type item struct {
	f    *frame
	live bool
}

// conn is one WebSocket. Its goroutines: the handler's (reads frames, then
// tears down), the writer (the only one writing data frames), the sender
// (calls the command service, one send at a time, in order) and, while it
// resumes, the catch-up. Every one of them ends when done is closed.
type conn struct {
	s      *Service
	ws     *websocket.Conn
	room   schemas.ID
	caller Caller
	// snap is the room seq of the presence snapshot sent on connect.
	snap int64
	// expires is when the socket's token expires.
	expires time.Time
	queue   chan item
	sends   chan clientFrame
	user    *userState
	// frames limits every client frame of this socket.
	frames *rate.Limiter

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	once      sync.Once
	done      chan struct{}
	code      int    // close code to send; 0 = none (the peer is gone or closed first)
	reason    string // close reason
	closeSent bool   // gorilla already sent the close frame (read limit)
	force     *time.Timer
}

func newConn(s *Service, ws *websocket.Conn, room schemas.ID, caller Caller, expires time.Time, snap int64, user *userState) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, ws: ws, room: room, caller: caller, expires: expires, snap: snap, user: user,
		queue:  make(chan item, s.cfg.SendQueue),
		sends:  make(chan clientFrame, maxSendsInFlight),
		frames: rate.NewLimiter(rate.Limit(s.cfg.FrameRate), s.cfg.FrameBurst),
		ctx:    ctx, cancel: cancel,
		done: make(chan struct{}),
	}
}

// maxSendsInFlight bounds the sends a socket may have queued for the command
// service; more get a rate_limited error frame.
const maxSendsInFlight = 16

// fail starts closing the socket with code (0: send no close frame). Safe
// from any goroutine, any number of times; the first call wins. It never
// blocks: the hub calls it while holding its lock.
func (c *conn) fail(code int, reason string, closeSent bool) {
	c.once.Do(func() {
		c.code, c.reason, c.closeSent = code, reason, closeSent
		close(c.done)
		c.cancel()
		if c.ws == nil {
			return // a unit test's socket-less conn
		}
		// Unblock the reader soon; the writer closes the socket if it can,
		// and the timer does if the writer is stuck on a dead peer.
		_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(closeGrace))
		c.force = time.AfterFunc(2*closeGrace, func() { _ = c.ws.NetConn().Close() })
	})
}

// push queues a frame, waiting for room in the queue. Only frames of this
// socket alone go through push (presence, acks, errors, catch-up); the
// hub's fan-out never waits.
func (c *conn) push(it item) bool {
	select {
	case c.queue <- it:
		return true
	case <-c.done:
		return false
	}
}

// serve runs the socket until it closes: it starts the writer and the
// sender, registers with the hub (or starts the catch-up), reads frames, and
// tears everything down. from is the seq after which events are delivered.
func (c *conn) serve(members []schemas.Member, from int64) {
	m := c.s.m
	m.open.Inc()
	defer m.open.Dec()
	expiry := time.AfterFunc(time.Until(c.expires), func() {
		c.fail(CloseTokenExpired, "token expired", false)
	})
	defer expiry.Stop()

	c.push(item{f: controlFrame(presenceFrame{Type: typePresence, RoomID: c.room, Members: members, Seq: c.snap})})
	c.wg.Add(2)
	go c.writeLoop(from)
	go c.sendLoop()
	if live, _ := c.s.hub.step(c, from, c.snap); live {
		m.resumes.WithLabelValues("live").Inc()
	} else {
		c.wg.Add(1)
		go c.catchUp(from)
	}

	c.readLoop()
	c.fail(0, "", false)
	c.s.hub.remove(c)
	c.wg.Wait()
	c.drainAndClose()
	if c.force != nil {
		c.force.Stop()
	}
	m.closes.WithLabelValues(strconv.Itoa(c.code)).Inc()
}

// drainAndClose ends the TCP connection politely: half-close, then read
// whatever the client still sends (its close frame, the rest of a frame
// that was too big) so that closing does not reset the connection before
// the client has read our close frame.
func (c *conn) drainAndClose() {
	nc := c.ws.NetConn()
	if tc, ok := nc.(*net.TCPConn); ok && c.code != 0 {
		_ = tc.CloseWrite()
		_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	}
	_ = nc.Close()
}

// readLoop reads client frames until the socket fails.
func (c *conn) readLoop() {
	cfg := &c.s.cfg
	c.ws.SetReadLimit(cfg.MaxFrameBytes)
	extend := func() {
		select {
		case <-c.done:
		default:
			_ = c.ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		}
	}
	extend()
	c.ws.SetPongHandler(func(string) error { extend(); return nil })
	c.ws.SetPingHandler(func(data string) error {
		extend()
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(cfg.WriteTimeout))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return err
			}
		}
		return nil
	})
	violations := 0
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		extend()
		if !c.frames.Allow() {
			violations++
			c.s.m.clientFrames.WithLabelValues("rate_limited").Inc()
			if violations > cfg.FrameBurst {
				c.fail(ClosePolicyViolation, "frame rate limit exceeded", false)
				return
			}
			c.push(item{f: errFrame("", rateLimited("too many frames"))})
			continue
		}
		violations = 0
		if mt != websocket.TextMessage {
			c.s.m.clientFrames.WithLabelValues("binary").Inc()
			c.fail(CloseUnsupportedData, "binary frames are not supported", false)
			return
		}
		if !utf8.Valid(data) {
			c.s.m.clientFrames.WithLabelValues("invalid_utf8").Inc()
			c.fail(CloseInvalidPayload, "frame is not valid UTF-8", false)
			return
		}
		f, perr := parseClientFrame(data)
		if perr != nil {
			c.s.m.clientFrames.WithLabelValues("invalid").Inc()
			c.push(item{f: errFrame(f.ClientMsgID, perr)})
			continue
		}
		switch f.Type {
		case typePing:
			c.s.m.clientFrames.WithLabelValues("ping").Inc()
			c.push(item{f: controlFrame(pongFrame{Type: typePong})})
		case typeSend:
			c.s.m.clientFrames.WithLabelValues("send").Inc()
			if !c.user.send.Allow() {
				c.push(item{f: errFrame(f.ClientMsgID, rateLimited("too many messages"))})
				continue
			}
			select {
			case c.sends <- f:
			default:
				c.push(item{f: errFrame(f.ClientMsgID, rateLimited("too many sends in flight"))})
			}
		}
	}
}

func rateLimited(msg string) *schemas.Error {
	return &schemas.Error{Code: schemas.CodeRateLimited, Message: msg, RetryAfter: time.Second}
}

// readFailed maps a read error to how the socket closes.
func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		// gorilla has already sent 1009.
		c.s.m.clientFrames.WithLabelValues("too_big").Inc()
		c.fail(CloseTooBig, "", true)
	case errors.As(err, &ce):
		// The client closed; gorilla answered its close frame.
		c.fail(0, "", true)
	case errors.As(err, &ne) && ne.Timeout():
		c.fail(CloseIdle, "idle timeout", false)
	default:
		c.fail(0, "", false)
	}
}

// writeLoop writes queued frames in order, pings, and sends the close frame.
// It delivers each room event once and in seq order: lastSeq is the newest
// seq written, so the overlap where catch-up meets the live tail is dropped
// here, and a gap (which only a gap in the log itself can cause) is counted.
func (c *conn) writeLoop(lastSeq int64) {
	defer c.wg.Done()
	cfg := &c.s.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.done:
			if c.code == 0 || c.closeSent {
				return
			}
			deadline := time.Now().Add(closeGrace)
			switch c.code {
			case CloseSlowConsumer, CloseNotMember, CloseTokenExpired:
				// A slow consumer's queue is exactly what it could not
				// take; a former member or an expired token gets no more.
			default:
				// Flush what is already queued (the error frames before a
				// policy close, the events before a shutdown), briefly.
				c.flush(lastSeq, deadline)
			}
			msg := websocket.FormatCloseMessage(c.code, c.reason)
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, deadline)
			return
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)); err != nil {
				c.fail(0, "", false)
				return
			}
		case it := <-c.queue:
			var err error
			if lastSeq, err = c.write(it, lastSeq, time.Now().Add(cfg.WriteTimeout)); err != nil {
				c.fail(0, "", false)
				return
			}
		}
	}
}

// write writes one queued frame unless it is an event the socket already
// has, and returns the new last seq.
func (c *conn) write(it item, lastSeq int64, deadline time.Time) (int64, error) {
	f, m := it.f, c.s.m
	if f.seq > 0 {
		if f.seq <= lastSeq {
			return lastSeq, nil
		}
		if f.seq != lastSeq+1 {
			m.gaps.Inc()
			c.s.log.Error("socket skipped seqs", "room", c.room, "after", lastSeq, "got", f.seq)
		}
	}
	_ = c.ws.SetWriteDeadline(deadline)
	var err error
	if f.pm != nil {
		err = c.ws.WritePreparedMessage(f.pm)
	} else {
		err = c.ws.WriteMessage(websocket.TextMessage, f.data)
	}
	if err != nil {
		return lastSeq, err
	}
	if f.seq == 0 {
		return lastSeq, nil
	}
	m.deliveries.Inc()
	if it.live {
		m.delay.Observe(time.Since(f.at).Seconds())
	}
	if f.leaver == c.caller.UserID && f.seq > c.snap {
		c.fail(CloseNotMember, "left the room", false)
	}
	return f.seq, nil
}

// flush writes the frames already queued, until the deadline.
func (c *conn) flush(lastSeq int64, deadline time.Time) int64 {
	for time.Now().Before(deadline) {
		select {
		case it := <-c.queue:
			var err error
			if lastSeq, err = c.write(it, lastSeq, deadline); err != nil {
				return lastSeq
			}
		default:
			return lastSeq
		}
	}
	return lastSeq
}

// sendLoop hands the socket's send frames to the command service one at a
// time, so that one socket's messages keep their order.
func (c *conn) sendLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case f := <-c.sends:
			ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.SendTimeout)
			msg, err := c.s.cfg.Commands.Send(ctx, c.caller, c.room, f.Body, f.ClientMsgID)
			cancel()
			if err != nil {
				e := schemas.AsError(err)
				if e.Code == schemas.CodeInternal && c.ctx.Err() == nil {
					c.s.log.Error("send over websocket", "room", c.room, "user", c.caller.UserID, "err", err)
				}
				c.push(item{f: errFrame(f.ClientMsgID, e)})
				continue
			}
			c.push(item{f: controlFrame(ackFrame{Type: typeAck, ClientMsgID: f.ClientMsgID, Message: msg})})
		}
	}
}
