package chaos

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// subscriber is one member's socket on its room, kept open for the whole
// scenario: whenever it drops, it reconnects (to the next realtime
// instance) with since_seq = the last seq it saw, as the contract tells
// clients to. It records every event frame, in arrival order.
type subscriber struct {
	name string
	room schemas.ID
	u    *user
	urls []string // ws://host:port of the realtime instances
	// first is the index in urls of the first connection.
	first int
	l     *ledger // for send → deliver latencies (may be nil)

	mu         sync.Mutex
	seqs       []int64
	ids        map[int64]schemas.ID
	last       int64
	reconnects int
	closes     map[int]int
	latencies  []time.Duration
	gone       bool // closed for good (not a member any more)
	// connected holds when each connection got its presence frame.
	connected []time.Time
	lastErr   string

	cancel context.CancelFunc
	done   chan struct{}
}

// wsFrame is the union of the server frames the subscriber reads.
type wsFrame struct {
	Type    string           `json:"type"`
	Seq     int64            `json:"seq"`
	Message *schemas.Message `json:"message"`
}

// startSubscriber connects (since_seq=0: the whole room, from its first
// event) and keeps the socket going until stop.
func startSubscriber(ctx context.Context, name string, r schemas.ID, u *user, urls []string, first int, l *ledger) *subscriber {
	ctx, cancel := context.WithCancel(ctx)
	s := &subscriber{name: name, room: r, u: u, urls: urls, first: first, l: l, ids: map[int64]schemas.ID{},
		closes: map[int]int{}, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

func (s *subscriber) run(ctx context.Context) {
	defer close(s.done)
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	idx := s.first
	for failures := 0; ctx.Err() == nil; {
		s.mu.Lock()
		since := s.last
		s.mu.Unlock()
		q := url.Values{"room": {s.room.String()}, "token": {s.u.token}, "since_seq": {strconv.FormatInt(since, 10)}}
		target := s.urls[idx%len(s.urls)]
		ws, _, err := dialer.DialContext(ctx, target+"/v1/ws?"+q.Encode(), nil)
		if err != nil {
			s.note(err.Error())
			failures++
			idx++
			sleepCtx(ctx, min(time.Duration(failures)*100*time.Millisecond, time.Second))
			continue
		}
		failures = 0
		stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
		code := s.read(ws)
		stop()
		_ = ws.Close()
		s.mu.Lock()
		s.closes[code]++
		if ctx.Err() == nil {
			s.reconnects++
		}
		s.mu.Unlock()
		if code == 4003 { // not a member any more: nothing to resume
			s.mu.Lock()
			s.gone = true
			s.mu.Unlock()
			return
		}
		// Resume on the next instance: the one that dropped us may be gone,
		// and a resume must work anywhere.
		idx++
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// read consumes frames until the socket ends and returns the close code
// (1006 when the connection just dropped).
func (s *subscriber) read(ws *websocket.Conn) int {
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			s.note(err.Error())
			return websocket.CloseAbnormalClosure
		}
		now := time.Now()
		var f wsFrame
		if err := json.Unmarshal(data, &f); err != nil {
			s.note("undecodable frame: " + err.Error())
			continue
		}
		seq := f.Seq
		switch f.Type {
		case "message":
			if f.Message == nil {
				continue
			}
			seq = f.Message.Seq
		case "presence":
			s.mu.Lock()
			s.connected = append(s.connected, now)
			s.mu.Unlock()
			continue
		case "ack", "error", "typing", "pong":
			continue
		default:
			// Every other frame with a seq is a room event (joins, leaves,
			// room_event, message changes, and those of later levels): the
			// delivery check needs each of them.
			if seq == 0 {
				continue
			}
		}
		s.mu.Lock()
		s.seqs = append(s.seqs, seq)
		if seq > s.last {
			s.last = seq
		}
		if f.Message != nil {
			s.ids[seq] = f.Message.ID
			if s.l != nil {
				if t, ok := s.l.started.Load(f.Message.ClientMsgID); ok {
					s.latencies = append(s.latencies, now.Sub(t.(time.Time)))
				}
			}
		}
		s.mu.Unlock()
	}
}

func (s *subscriber) note(msg string) {
	s.mu.Lock()
	s.lastErr = msg
	s.mu.Unlock()
}

// resumedAfter returns when the subscriber was connected again after t
// (its first presence frame after t), or zero when it did not reconnect.
func (s *subscriber) resumedAfter(t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.connected {
		if c.After(t) {
			return c
		}
	}
	return time.Time{}
}

// lastSeq is the highest seq received.
func (s *subscriber) lastSeq() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// stop closes the socket for good and waits for the reader.
func (s *subscriber) stop() {
	s.cancel()
	<-s.done
}

// delivery is what the subscriber received, for CheckDelivery.
func (s *subscriber) delivery() Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make(map[int64]schemas.ID, len(s.ids))
	for k, v := range s.ids {
		ids[k] = v
	}
	return Delivery{Name: s.name, Room: s.room, Since: 0, Seqs: append([]int64(nil), s.seqs...), IDs: ids}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// slowDialer makes sockets with a 4 KiB receive buffer, so that a client
// that stops reading pushes back on the server within a few frames.
func slowDialer() websocket.Dialer {
	nd := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second}
}
