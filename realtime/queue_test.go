package realtime

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"happychat/schemas"
)

// Unit tests of the send queue (queue.go): the queue's bounds on bare
// conns, and the writer against a real WebSocket on a loopback listener.

func TestOfferStopsAtTheQueueCapacity(t *testing.T) {
	c := bareConn(42, 2)
	for s := int64(1); s <= 3; s++ {
		want := s <= 2
		if got := c.offer(item{f: &frame{seq: s}}); got != want {
			t.Fatalf("offer %d of a 2-frame queue = %v, want %v", s, got, want)
		}
	}
	if got := queued(c); !equal(got, []int64{1, 2}) {
		t.Fatalf("queued %v, want [1 2]", got)
	}
	// A closing socket takes nothing and cuts nobody off.
	c.fail(CloseGoingAway, "bye", false)
	if !c.offer(item{f: &frame{seq: 4}}) {
		t.Fatal("offer to a closing socket must report true")
	}
	if got := queued(c); len(got) != 0 {
		t.Fatalf("a closing socket queued %v", got)
	}
}

// pushResult runs push in a goroutine.
func pushResult(c *conn, f *frame) <-chan bool {
	done := make(chan bool, 1)
	go func() { done <- c.push(item{f: f}) }()
	return done
}

// pushNow pushes a frame that must not wait: the queue has room, or the
// socket is closing.
func pushNow(t *testing.T, c *conn, f *frame) bool {
	t.Helper()
	select {
	case ok := <-pushResult(c, f):
		return ok
	case <-time.After(5 * time.Second):
		t.Fatal("push waited although it had no reason to")
		return false
	}
}

// waitPushBlocked returns once push waits for room (it made c.space), and
// fails the test if push returned instead.
func waitPushBlocked(t *testing.T, c *conn, res <-chan bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case ok := <-res:
			t.Fatalf("push into a full queue returned %v instead of waiting", ok)
		default:
		}
		c.qmu.Lock()
		waiting := c.space != nil
		c.qmu.Unlock()
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("push neither waited nor returned")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPushWaitsForRoom(t *testing.T) {
	t.Run("queues at once while there is room", func(t *testing.T) {
		c := bareConn(42, 2)
		for s := int64(1); s <= 2; s++ {
			if !pushNow(t, c, &frame{seq: s}) {
				t.Fatalf("push %d refused", s)
			}
		}
		if got := queued(c); !equal(got, []int64{1, 2}) {
			t.Fatalf("queued %v, want [1 2]", got)
		}
	})
	t.Run("a full queue: waits until the writer takes it", func(t *testing.T) {
		c := bareConn(42, 2)
		pushNow(t, c, &frame{seq: 1})
		pushNow(t, c, &frame{seq: 2})
		res := pushResult(c, &frame{seq: 3})
		waitPushBlocked(t, c, res)
		// What the writer does: take the queue, then signal room.
		if got := queued(c); !equal(got, []int64{1, 2}) {
			t.Fatalf("queued %v before the wait, want [1 2]", got)
		}
		c.space <- struct{}{}
		if ok := <-res; !ok {
			t.Fatal("push refused after room was made")
		}
		if got := queued(c); !equal(got, []int64{3}) {
			t.Fatalf("queued %v after the wait, want [3]", got)
		}
	})
	t.Run("a full queue: gives up when the socket closes", func(t *testing.T) {
		c := bareConn(42, 1)
		pushNow(t, c, &frame{seq: 1})
		res := pushResult(c, &frame{seq: 2})
		waitPushBlocked(t, c, res)
		c.fail(CloseGoingAway, "bye", false)
		if ok := <-res; ok {
			t.Fatal("push into a closed socket reported true")
		}
		if got := queued(c); !equal(got, []int64{1}) {
			t.Fatalf("queued %v, want [1]", got)
		}
	})
	t.Run("a closing socket takes nothing", func(t *testing.T) {
		c := bareConn(42, 4)
		c.fail(CloseGoingAway, "bye", false)
		if pushNow(t, c, &frame{seq: 1}) {
			t.Fatal("push into a closing socket reported true")
		}
	})
}

func TestBatchRelease(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		recycled bool
	}{
		{"at the pooled limit: emptied for reuse", maxPooledBatch, true},
		{"oversized: left to the garbage collector", maxPooledBatch + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &frame{seq: 1}
			b := &batch{items: make([]item, 1, tt.capacity), bufs: net.Buffers{[]byte("x")}}
			b.items[0] = item{f: f}
			b.release()
			if !tt.recycled {
				// Not pooled, hence untouched: nobody else will get it.
				if len(b.items) != 1 || b.items[0].f != f {
					t.Fatalf("an oversized batch was emptied for reuse: %d items", len(b.items))
				}
				return
			}
			if len(b.items) != 0 || len(b.bufs) != 0 {
				t.Fatalf("released batch holds %d items, %d buffers", len(b.items), len(b.bufs))
			}
			if b.items[:1][0].f != nil || b.bufs[:1][0] != nil {
				t.Fatal("a pooled batch keeps the frames it held alive")
			}
		})
	}
}

// socketPair returns the server side of a WebSocket, for a conn's writer,
// and the client that reads it.
func socketPair(t *testing.T) (server, client *websocket.Conn) {
	t.Helper()
	up := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			close(up)
			return
		}
		up <- ws
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-up
	if server == nil {
		t.Fatal("upgrade failed")
	}
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
	})
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	return server, client
}

// writerConn is a conn of user 7 in room 42 with a real socket: queueing
// starts its writer.
func writerConn(t *testing.T, ws *websocket.Conn, lastSeq, snap int64) *conn {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{WriteTimeout: 5 * time.Second}, m: m, log: slog.New(slog.DiscardHandler)}
	return &conn{s: s, t: wsTransport{ws: ws}, room: 42, caller: Caller{UserID: 7}, snap: snap, qcap: 64,
		lastSeq: lastSeq, done: make(chan struct{}), cancel: func() {}}
}

// qf describes a queued frame: an event (seq > 0) or another frame (seq
// 0), its text, and for a member_left the user who left.
type qf struct {
	seq    int64
	text   string
	leaver schemas.ID
	live   bool
}

func (q qf) frame() *frame {
	return &frame{seq: q.seq, wire: wireFrame(opText, []byte(q.text)), leaver: q.leaver, at: time.Now()}
}

func ev(seq int64) qf { return qf{seq: seq, text: strconv.FormatInt(seq, 10), live: true} }

func catchUp(seq int64) qf { return qf{seq: seq, text: strconv.FormatInt(seq, 10)} }

func leftBy(seq int64, user schemas.ID) qf {
	return qf{seq: seq, text: strconv.FormatInt(seq, 10), leaver: user, live: true}
}

func other(text string) qf { return qf{text: text} }

// queueBatch queues frames as one batch: the writer it starts waits for
// the lock until all are queued.
func queueBatch(c *conn, fs []qf) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	for _, q := range fs {
		c.enqueueLocked(item{f: q.frame(), live: q.live})
	}
}

// readTexts reads n text frames.
func readTexts(t *testing.T, ws *websocket.Conn, n int) []string {
	t.Helper()
	var got []string
	for range n {
		mt, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if mt != websocket.TextMessage {
			t.Fatalf("after %q: message type %d", got, mt)
		}
		got = append(got, string(b))
	}
	return got
}

// closeCode reads until the close frame and returns its code
// (CloseAbnormalClosure: the connection ended without one).
func closeCode(t *testing.T, ws *websocket.Conn) int {
	t.Helper()
	_, b, err := ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("want the close, got frame %q, err %v", b, err)
	}
	return ce.Code
}

func histogramCount(t *testing.T, m interface{ Write(*dto.Metric) error }) uint64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

func TestWriterDeliversEachEventOnceInOrder(t *testing.T) {
	tests := []struct {
		name       string
		lastSeq    int64 // the newest seq the socket has had
		snap       int64 // the seq of the socket's presence snapshot
		frames     []qf
		want       []string
		closedWith int // 0: the socket stays open
		deliveries float64
		delays     uint64 // live event frames written
		gaps       float64
	}{
		{"events and other frames, in order", 0, 0,
			[]qf{ev(1), ev(2), other("ack"), ev(3), other("end")},
			[]string{"1", "2", "ack", "3", "end"}, 0, 3, 3, 0},
		{"the catch-up overlap and duplicates are dropped", 2, 0,
			[]qf{catchUp(1), catchUp(2), catchUp(3), ev(3), ev(4), ev(4), other("end")},
			[]string{"3", "4", "end"}, 0, 2, 1, 0},
		{"a gap is delivered and counted", 0, 0,
			[]qf{ev(1), ev(3), other("end")},
			[]string{"1", "3", "end"}, 0, 2, 2, 1},
		{"only other frames: no deliveries", 5, 0,
			[]qf{other("ack"), other("end")},
			[]string{"ack", "end"}, 0, 0, 0, 0},
		{"the socket's own member_left ends it", 0, 0,
			[]qf{ev(1), leftBy(2, 7), ev(3), other("end")},
			[]string{"1", "2"}, CloseNotMember, 2, 2, 0},
		{"another user's member_left does not", 0, 0,
			[]qf{ev(1), leftBy(2, 8), ev(3), other("end")},
			[]string{"1", "2", "3", "end"}, 0, 3, 3, 0},
		{"an own member_left the snapshot already reflects does not", 0, 2,
			[]qf{catchUp(1), leftBy(2, 7), ev(3), other("end")},
			[]string{"1", "2", "3", "end"}, 0, 3, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := socketPair(t)
			c := writerConn(t, server, tt.lastSeq, tt.snap)
			queueBatch(c, tt.frames)
			if got := readTexts(t, client, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Fatalf("client read %q, want %q", got, tt.want)
			}
			if tt.closedWith != 0 {
				if code := closeCode(t, client); code != tt.closedWith {
					t.Fatalf("close code %d, want %d", code, tt.closedWith)
				}
			}
			c.waitWriter()
			m := c.s.m
			if got := testutil.ToFloat64(m.deliveries); got != tt.deliveries {
				t.Errorf("deliveries %v, want %v", got, tt.deliveries)
			}
			if got := histogramCount(t, m.delay); got != tt.delays {
				t.Errorf("delay samples %d, want %d (live events written)", got, tt.delays)
			}
			if got := testutil.ToFloat64(m.gaps); got != tt.gaps {
				t.Errorf("gaps %v, want %v", got, tt.gaps)
			}
		})
	}
}

func TestCloseSequence(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		closeSent bool // the close frame already went out (read limit)
		queued    []qf
		want      []string
		wantClose int // CloseAbnormalClosure: no close frame was written
	}{
		{"a shutdown flushes the queue first", CloseGoingAway, false,
			[]qf{ev(1), other("error frame")}, []string{"1", "error frame"}, CloseGoingAway},
		{"nothing queued: the close frame alone", CloseGoingAway, false, nil, nil, CloseGoingAway},
		{"a slow consumer gets no more frames", CloseSlowConsumer, false, []qf{ev(1), ev(2)}, nil, CloseSlowConsumer},
		{"a former member gets no more frames", CloseNotMember, false, []qf{ev(1)}, nil, CloseNotMember},
		{"an expired token gets no more frames", CloseTokenExpired, false, []qf{ev(1)}, nil, CloseTokenExpired},
		{"close frame already sent: nothing more", CloseTooBig, true, []qf{ev(1)}, nil, websocket.CloseAbnormalClosure},
		{"the peer is gone (code 0): nothing more", 0, false, []qf{ev(1)}, nil, websocket.CloseAbnormalClosure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := socketPair(t)
			c := writerConn(t, server, 0, 0)
			// Queue, then fail before the writer runs, so that the close
			// sequence meets the queue.
			c.qmu.Lock()
			for _, q := range tt.queued {
				c.enqueueLocked(item{f: q.frame(), live: q.live})
			}
			failed := make(chan struct{})
			go func() {
				c.fail(tt.code, "test", tt.closeSent)
				close(failed)
			}()
			<-c.done
			c.qmu.Unlock()
			<-failed
			c.waitWriter()
			c.force.Stop()
			// What serve does after the writer: close the connection.
			_ = server.NetConn().Close()
			if got := readTexts(t, client, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Fatalf("client read %q, want %q", got, tt.want)
			}
			if code := closeCode(t, client); code != tt.wantClose {
				t.Fatalf("close code %d, want %d", code, tt.wantClose)
			}
			// No writer starts again on a closed socket.
			if pushNow(t, c, ev(9).frame()) {
				t.Fatal("push to a closed socket reported true")
			}
		})
	}
}

// TestWriterWakesAWaitingPush: while the writer is stuck on a slow reader,
// a push into the full queue waits; once the writer takes the queue it
// makes room, and every frame arrives in order.
func TestWriterWakesAWaitingPush(t *testing.T) {
	server, client := socketPair(t)
	c := writerConn(t, server, 0, 0)
	c.qcap = 1
	// Larger than the loopback socket buffers: the writer blocks until the
	// client reads.
	big := qf{text: strings.Repeat("x", 16<<20)}
	if !pushNow(t, c, big.frame()) {
		t.Fatal("push refused")
	}
	res := make(chan bool, 1)
	go func() {
		ok := c.push(item{f: other("2").frame()})
		res <- ok && c.push(item{f: other("3").frame()})
	}()
	waitPushBlocked(t, c, res)
	if got := readTexts(t, client, 3); len(got[0]) != len(big.text) || got[1] != "2" || got[2] != "3" {
		t.Fatalf("client read %d bytes, then %q", len(got[0]), got[1:])
	}
	if ok := <-res; !ok {
		t.Fatal("a push was refused")
	}
}

// TestWriterAfterABatch: the writer exits when the queue is empty and the
// next frame starts another; a write that fails (the peer is gone) ends the
// socket.
func TestWriterAfterABatch(t *testing.T) {
	server, client := socketPair(t)
	c := writerConn(t, server, 0, 0)
	for i, text := range []string{"first", "second"} {
		if !pushNow(t, c, other(text).frame()) {
			t.Fatalf("push %d refused", i)
		}
		if got := readTexts(t, client, 1); got[0] != text {
			t.Fatalf("read %q, want %q", got[0], text)
		}
		c.waitWriter()
	}
	if c.closing() {
		t.Fatal("the socket closed after writing")
	}
	_ = client.NetConn().Close()
	deadline := time.Now().Add(10 * time.Second)
	for !c.closing() {
		if time.Now().After(deadline) {
			t.Fatal("writing to a closed peer did not end the socket")
		}
		c.push(item{f: other(strings.Repeat("y", 1024)).frame()})
		time.Sleep(time.Millisecond)
	}
	if c.code != 0 {
		t.Fatalf("close code %d, want none (the peer is gone)", c.code)
	}
}
