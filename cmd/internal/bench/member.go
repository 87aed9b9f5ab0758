package bench

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// member is one benchmark user with its socket.
type member struct {
	room   int
	roomID schemas.ID
	id     schemas.ID
	token  string
	ws     *websocket.Conn
	// body, out, lastSeq and seen are the load mode's (nil in idle mode,
	// where 20,000 send queues would cost this process ~50 MiB for
	// nothing); lastSeq and seen are touched by the socket's reader only.
	body    string
	out     chan sendReq
	lastSeq int64
	seen    map[string]bool
	// The reader's own tallies, merged after the run: a delivery touches
	// nothing shared but its send's atomic counter, so that the generator
	// spends its CPU on reading frames rather than on one contended lock.
	latencies  []float64
	deliveries int64
	duplicated int64
	outOfOrder int64
	lastDeliv  time.Time
	closed     bool // the server closed the socket during the run
}

type sendReq struct {
	id string
	at time.Time
}

// write sends the member's scheduled sends over its socket.
func (m *member) write(rec *recorder) {
	for req := range m.out {
		b, err := json.Marshal(map[string]string{"type": "send", "body": m.body + " " + req.id[:8], "client_msg_id": req.id})
		if err == nil {
			_ = m.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			err = m.ws.WriteMessage(websocket.TextMessage, b)
		}
		if err != nil {
			rec.errorf("write send: %v", err)
			rec.sends.Delete(req.id)
			// Keep draining so the scheduler never blocks on this socket.
			continue
		}
		rec.mu.Lock()
		rec.res.SendsWritten++
		rec.mu.Unlock()
	}
}

// frame is any server frame, decoded leniently and only as far as the
// tallies need (the generator shares the machine with the server).
type frame struct {
	Type        string         `json:"type"`
	Message     *frameMessage  `json:"message"`
	Seq         int64          `json:"seq"`
	ClientMsgID string         `json:"client_msg_id"`
	Error       *schemas.Error `json:"error"`
}

type frameMessage struct {
	Seq         int64  `json:"seq"`
	ClientMsgID string `json:"client_msg_id"`
}

// read tallies the socket's frames until it closes.
func (m *member) read(rec *recorder) {
	for {
		_, data, err := m.ws.ReadMessage()
		now := time.Now()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure:
			case errors.Is(err, net.ErrClosed):
				// Closed by Run at the end.
			case errors.As(err, &ce):
				m.closed = true
				rec.mu.Lock()
				rec.res.Closes[strconv.Itoa(ce.Code)]++
				rec.mu.Unlock()
			default:
				m.closed = true
				rec.mu.Lock()
				rec.res.Closes["abnormal"]++
				rec.mu.Unlock()
			}
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			rec.errorf("undecodable frame: %v", err)
			continue
		}
		switch f.Type {
		case "message":
			m.onMessage(rec, f.Message, now)
		case "member_joined", "member_left", "room_event":
			m.checkSeq(f.Seq)
		case "ack":
			if v, ok := rec.sends.Load(f.ClientMsgID); ok {
				p := v.(*pending)
				rec.mu.Lock()
				if !p.acked {
					p.acked = true
					rec.res.Acks++
					rec.ackLats = append(rec.ackLats, ms(now.Sub(p.at)))
				}
				rec.mu.Unlock()
			}
		case "error":
			code := "unknown"
			if f.Error != nil {
				code = string(f.Error.Code)
			}
			rec.sends.Delete(f.ClientMsgID)
			rec.mu.Lock()
			rec.res.SendErrors[code]++
			rec.mu.Unlock()
		}
	}
}

// checkSeq counts a seq that does not increase on this socket.
func (m *member) checkSeq(seq int64) bool {
	if seq <= m.lastSeq {
		m.outOfOrder++
		return false
	}
	m.lastSeq = seq
	return true
}

func (m *member) onMessage(rec *recorder, msg *frameMessage, now time.Time) {
	if msg == nil {
		return
	}
	if m.seen[msg.ClientMsgID] {
		m.duplicated++
		return
	}
	m.checkSeq(msg.Seq)
	v, ok := rec.sends.Load(msg.ClientMsgID)
	if !ok {
		return // not this run's message
	}
	p := v.(*pending)
	m.seen[msg.ClientMsgID] = true
	p.delivered.Add(1)
	m.deliveries++
	m.lastDeliv = now
	m.latencies = append(m.latencies, ms(now.Sub(p.at)))
}
