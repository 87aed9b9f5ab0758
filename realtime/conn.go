package realtime

import (
	"context"
	"errors"
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
// dispatched just now (their age is the end-to-end delay); written is the
// writer's note that the frame went out (it was not a duplicate).
type item struct {
	f       *frame
	live    bool
	written bool
}

// conn is one subscription, over a WebSocket or an SSE stream (its
// transport). Its goroutines: the reader (reads frames, then tears down),
// and only while they have work: the writer (queue.go), the sender (calls
// the command service, one send at a time, in order) and the catch-up of a
// resume. Every one of them ends when done is closed.
type conn struct {
	s      *Service
	t      transport // nil: a unit test's transport-less conn
	room   schemas.ID
	caller Caller
	// snap is the room seq of the presence snapshot sent on connect.
	snap int64
	// expires is when the socket's token expires.
	expires time.Time
	user    *userState
	// frames limits every client frame of this socket.
	frames *rate.Limiter

	// The send queue (queue.go).
	qmu     sync.Mutex
	q       *batch
	qcap    int
	writing bool
	closed  bool
	idle    chan struct{}
	space   chan struct{} // made when a push first waits for room

	lastSeq int64
	pinger  *time.Timer

	// Sends waiting for the command service, and whether a sender runs.
	smu     sync.Mutex
	pending []clientFrame
	sending bool

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

func newConn(s *Service, t transport, room schemas.ID, caller Caller, expires time.Time, snap int64, user *userState) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		s: s, t: t, room: room, caller: caller, expires: expires, snap: snap, user: user,
		qcap:   s.cfg.SendQueue,
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
		if c.t == nil {
			return // a unit test's transport-less conn
		}
		// The writer runs the close sequence.
		c.qmu.Lock()
		c.startWriterLocked()
		c.qmu.Unlock()
		// Unblock the reader soon; the writer closes the socket if it can,
		// and the timer does if the writer is stuck on a dead peer.
		c.t.unblock()
		c.force = time.AfterFunc(2*closeGrace, c.t.forceClose)
	})
}

// serve runs the socket until it closes: it queues the presence frame
// (rendered by the handler: JSON encoding takes a deep stack, and this
// goroutine's stack stays as large as it ever grew),
// registers with the hub (or starts the catch-up), reads frames, and tears
// everything down. from is the seq after which events are delivered.
func (c *conn) serve(presence *frame, from int64) {
	m := c.s.m
	m.open.Inc()
	defer m.open.Dec()
	c.qmu.Lock()
	c.lastSeq = from
	c.pinger = time.AfterFunc(c.nextTick(), c.tick)
	c.qmu.Unlock()

	c.push(item{f: presence})
	if live, _ := c.s.hub.step(c, from, c.snap); live {
		m.resumes.WithLabelValues("live").Inc()
	} else {
		c.wg.Add(1)
		go c.catchUp(from)
	}

	c.t.read(c)
	c.fail(0, "", false)
	c.s.hub.remove(c)
	c.wg.Wait()
	c.waitWriter()
	c.qmu.Lock()
	c.pinger.Stop()
	c.qmu.Unlock()
	c.t.finish(c.code)
	if c.force != nil {
		c.force.Stop()
	}
	m.closes.WithLabelValues(strconv.Itoa(c.code)).Inc()
}

// tick is the socket's one timer: it closes the socket when its token
// expires, and otherwise queues the keepalive ping and re-arms. With the
// queue full the ping is skipped: the socket is about to be cut, and the
// reader's idle timeout judges liveness anyway.
func (c *conn) tick() {
	if c.closing() {
		return
	}
	if !time.Now().Before(c.expires) {
		c.fail(CloseTokenExpired, "token expired", false)
		return
	}
	c.offer(item{f: pingFrame})
	c.qmu.Lock()
	c.pinger.Reset(c.nextTick())
	c.qmu.Unlock()
}

// nextTick is the time to the next ping, or to the token's expiry if that
// comes first.
func (c *conn) nextTick() time.Duration {
	return min(c.s.cfg.PingInterval, time.Until(c.expires))
}

// readLoop reads a WebSocket's client frames until the socket fails.
func (c *conn) readLoop(ws *websocket.Conn) {
	cfg := &c.s.cfg
	ws.SetReadLimit(cfg.MaxFrameBytes)
	extend := func() {
		select {
		case <-c.done:
		default:
			_ = ws.SetReadDeadline(time.Now().Add(cfg.IdleTimeout))
		}
	}
	extend()
	ws.SetPongHandler(func(string) error { extend(); return nil })
	ws.SetPingHandler(func(data string) error {
		extend()
		// Through the queue, behind what it holds: the writer is the only
		// one writing frames. A full queue skips the pong.
		c.offer(item{f: pongFrameOf(data)})
		return nil
	})
	violations := 0
	for {
		mt, data, err := ws.ReadMessage()
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
		case typeTyping:
			// Above the per-user rate it is dropped without an answer: the
			// client repeats it while its user types.
			c.s.m.clientFrames.WithLabelValues("typing").Inc()
			if c.s.users.typing(c.caller.UserID, time.Now()) {
				c.s.publishTyping(c.ctx, c.room, c.caller)
			}
		case typeSend:
			c.s.m.clientFrames.WithLabelValues("send").Inc()
			if !c.user.send.Allow() {
				c.push(item{f: errFrame(f.ClientMsgID, rateLimited("too many messages"))})
				continue
			}
			if !c.queueSend(f) {
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

// queueSend hands a send frame to the sender, starting it if none runs;
// false when maxSendsInFlight are already waiting. Called by the reader
// only, so the WaitGroup is never added to while serve waits on it.
func (c *conn) queueSend(f clientFrame) bool {
	c.smu.Lock()
	defer c.smu.Unlock()
	if len(c.pending) >= maxSendsInFlight {
		return false
	}
	c.pending = append(c.pending, f)
	if !c.sending {
		c.sending = true
		c.wg.Add(1)
		go c.sendLoop()
	}
	return true
}

// sendLoop hands the socket's send frames to the command service one at a
// time, so that one socket's messages keep their order, and exits when
// none are waiting.
func (c *conn) sendLoop() {
	defer c.wg.Done()
	for {
		c.smu.Lock()
		if len(c.pending) == 0 || c.ctx.Err() != nil {
			c.pending = nil
			c.sending = false
			c.smu.Unlock()
			return
		}
		f := c.pending[0]
		c.pending = c.pending[1:]
		c.smu.Unlock()

		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.SendTimeout)
		msg, err := c.send(ctx, f)
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

// send hands a send frame to the command service: a plain send, or one with
// a reply or mentions to a Commands that takes them.
func (c *conn) send(ctx context.Context, f clientFrame) (schemas.Message, error) {
	if f.ReplyTo == 0 && len(f.Mentions) == 0 {
		return c.s.cfg.Commands.Send(ctx, c.caller, c.room, f.Body, f.ClientMsgID)
	}
	r, ok := c.s.cfg.Commands.(Replier)
	if !ok {
		return schemas.Message{}, schemas.Errorf(schemas.CodeBadRequest, "reply_to and mentions are not taken here: send them with POST /v1/rooms/{id}/messages")
	}
	return r.SendReply(ctx, c.caller, c.room, f.Body, f.ClientMsgID, Replies{ReplyTo: f.ReplyTo, Mentions: f.Mentions})
}
