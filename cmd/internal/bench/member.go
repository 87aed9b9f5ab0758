package bench

import (
	"bytes"
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
	slot   int // index within its room
	roomID schemas.ID
	id     schemas.ID
	token  string
	ws     *websocket.Conn
	// out is the load mode's send queue (nil in idle mode, where 20,000 of
	// them would cost this process ~50 MiB for nothing).
	out chan int64
	// The writer's own tallies: slot → write of each send, sends written.
	lag     []float64
	written int64
	// The reader's own tallies, merged after the run: a delivery touches
	// nothing shared but its send's bit in the ledger, so that the generator
	// spends its CPU on reading frames rather than on one contended lock.
	lastSeq int64
	tally   readTally
	closed  bool // the server closed the socket during the run
}

// readTally is one socket's reader's counts and latencies (ms).
type readTally struct {
	total      []float64 // slot → receipt
	fromWrite  []float64 // write → receipt
	toSentAt   []float64 // write → sent_at (the server decided the send)
	fromSentAt []float64 // sent_at → receipt (commit, tail, fan-out, read)
	ackLats    []float64 // slot → ack, on the sender's socket
	deliveries int64
	inWindow   int64 // deliveries read before the last slot was issued
	duplicated int64
	outOfOrder int64
	acks       int64
}

// write sends the member's scheduled slots over its socket. Each is stamped
// just before WriteMessage: slot → stamp is the generator's own delay (the
// issue lag), stamp → receipt the server's and the network's.
func (m *member) write(run *loadRun) {
	L := run.led
	var buf []byte
	for k := range m.out {
		buf = run.sendFrame(buf[:0], k)
		_ = m.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		now := time.Now()
		L.written[k].Store(now.UnixNano())
		L.state[k].CompareAndSwap(stQueued, stWritten)
		m.lag = append(m.lag, ms(now.Sub(L.sched.slot(k))))
		if err := m.ws.WriteMessage(websocket.TextMessage, buf); err != nil {
			run.errorf("write send: %v", err)
			L.settle(k, stRefused)
			// Keep draining so the scheduler never blocks on this socket.
			continue
		}
		m.written++
	}
}

// errorFrame is the one frame decoded reflectively: it is rare, and its
// error code is a string the tallies keep.
type errorFrame struct {
	Error *schemas.Error `json:"error"`
}

// read tallies the socket's frames until it closes. One buffer is reused
// for every frame, and the frame is scanned in place.
func (m *member) read(run *loadRun) {
	var (
		buf bytes.Buffer
		f   scanned
	)
	for {
		_, r, err := m.ws.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			m.onReadError(run, err)
			return
		}
		now := time.Now()
		data := buf.Bytes()
		if !scanFrame(data, &f) {
			run.errorf("undecodable frame: %.200q", data)
			continue
		}
		switch string(f.typ) {
		case typeMessage:
			m.onMessage(run, &f, now)
		case "member_joined", "member_left", "room_event":
			m.checkSeq(f.seq)
		case "ack":
			if k := run.tag.index(f.cmid); k >= 0 && k < run.led.scheduled.Load() && run.led.settle(k, stAcked) {
				m.tally.acks++
				m.tally.ackLats = append(m.tally.ackLats, ms(now.Sub(run.led.sched.slot(k))))
			}
		case "error":
			code := "unknown"
			var ef errorFrame
			if err := json.Unmarshal(data, &ef); err == nil && ef.Error != nil {
				code = string(ef.Error.Code)
			}
			if k := run.tag.index(f.cmid); k >= 0 && k < run.led.scheduled.Load() {
				run.led.settle(k, stRefused)
			}
			run.mu.Lock()
			run.res.SendErrors[code]++
			run.mu.Unlock()
		}
	}
}

// onReadError records how the socket ended.
func (m *member) onReadError(run *loadRun, err error) {
	var ce *websocket.CloseError
	code := ""
	switch {
	case errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure:
	case errors.Is(err, net.ErrClosed):
		// Closed by Run at the end.
	case errors.As(err, &ce):
		code = strconv.Itoa(ce.Code)
	default:
		code = "abnormal"
	}
	if code == "" {
		return
	}
	m.closed = true
	run.mu.Lock()
	run.res.Closes[code]++
	run.mu.Unlock()
}

// checkSeq counts a seq that does not increase on this socket.
func (m *member) checkSeq(seq int64) bool {
	if seq <= m.lastSeq {
		m.tally.outOfOrder++
		return false
	}
	m.lastSeq = seq
	return true
}

func (m *member) onMessage(run *loadRun, f *scanned, now time.Time) {
	L := run.led
	k := run.tag.index(f.msgCMID)
	if k < 0 || k >= L.scheduled.Load() {
		m.checkSeq(f.msgSeq) // not this run's message, but in the room's sequence
		return
	}
	if int(L.room[k]) != m.room {
		run.errorf("socket of room %d got send %d of room %d", m.room, k, L.room[k])
		return
	}
	if !L.receive(k, m.slot) {
		m.tally.duplicated++
		return
	}
	m.checkSeq(f.msgSeq)
	t := &m.tally
	t.deliveries++
	nowNs := now.UnixNano()
	if nowNs <= run.windowEnd.Load() {
		t.inWindow++
	}
	t.total = append(t.total, ms(now.Sub(L.sched.slot(k))))
	w := L.written[k].Load()
	if w == 0 {
		return
	}
	t.fromWrite = append(t.fromWrite, nsMS(nowNs-w))
	// sent_at is the server's clock on this host, truncated to the
	// millisecond: write → sent_at reads up to 1 ms low (it can come out
	// slightly negative) and sent_at → receipt up to 1 ms high.
	if at, ok := parseWireTime(f.sentAt); ok {
		t.toSentAt = append(t.toSentAt, nsMS(at-w))
		t.fromSentAt = append(t.fromSentAt, nsMS(nowNs-at))
	}
}
