package realtime

import (
	"log/slog"
	"testing"
	"time"

	"happychat/schemas"
)

func testHub(t *testing.T, ringCap int) *hub {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newHub(ringCap, time.Minute, testRules{}, m, slog.New(slog.DiscardHandler))
}

func bareConn(room schemas.ID, queue int) *conn {
	return &conn{room: room, qcap: queue, done: make(chan struct{}), cancel: func() {}}
}

func msgEnv(room schemas.ID, seq int64, text string) schemas.Envelope {
	return schemas.Envelope{
		ID: schemas.ID(1000 + seq), Type: schemas.TypeMessageSent, RoomID: room, UserID: 7, Seq: seq,
		OccurredAt: time.UnixMilli(1_700_000_000_000 + seq),
		Payload:    schemas.MessageSent{Text: text, ClientMsgID: "c", Nickname: "n"},
	}
}

// queued takes what the socket-less conn's queue holds (no writer runs).
func queued(c *conn) []int64 {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	var out []int64
	if c.q != nil {
		for _, it := range c.q.items {
			out = append(out, it.f.seq)
		}
		c.q = nil
	}
	return out
}

func TestHubStep(t *testing.T) {
	const room = schemas.ID(42)
	tests := []struct {
		name       string
		dispatched []int64 // seqs the tail dispatched after acquire
		last, snap int64
		wantLive   bool
		wantFrames []int64
	}{
		{"nothing dispatched, at the snapshot", nil, 5, 5, true, nil},
		{"nothing dispatched, behind the snapshot: read the log", nil, 2, 5, false, nil},
		{"tail behind the snapshot, socket at the snapshot", []int64{3, 4}, 5, 5, true, nil},
		{"caught up with the head", []int64{6, 7}, 7, 5, true, nil},
		{"behind the head, ring covers", []int64{6, 7, 8}, 5, 5, false, []int64{6, 7, 8}},
		{"behind the head, ring does not reach back", []int64{6, 7, 8, 9, 10, 11}, 5, 5, false, nil},
		{"ahead of the head", []int64{6}, 9, 9, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHub(t, 4)
			h.acquire(room)
			for _, s := range tt.dispatched {
				h.dispatch(msgEnv(room, s, "hi"))
			}
			c := bareConn(room, 8)
			live, frames := h.step(c, tt.last, tt.snap)
			if live != tt.wantLive || !equal(seqs(frames), tt.wantFrames) {
				t.Fatalf("step = %v %v; want %v %v", live, seqs(frames), tt.wantLive, tt.wantFrames)
			}
			// A live socket gets the next event; a catching-up one does not.
			next := int64(100)
			if n := len(tt.dispatched); n > 0 {
				next = tt.dispatched[n-1] + 1
			}
			h.dispatch(msgEnv(room, next, "next"))
			got := queued(c)
			if tt.wantLive && !equal(got, []int64{next}) {
				t.Fatalf("live socket queued %v, want [%d]", got, next)
			}
			if !tt.wantLive && len(got) != 0 {
				t.Fatalf("catching-up socket queued %v, want nothing", got)
			}
		})
	}
}

func TestHubDispatch(t *testing.T) {
	const room = schemas.ID(42)
	t.Run("untracked rooms are skipped", func(t *testing.T) {
		h := testHub(t, 4)
		h.dispatch(msgEnv(room, 1, "x"))
		if len(h.rooms) != 0 {
			t.Fatal("an untracked room must stay untracked")
		}
	})
	t.Run("duplicates are dropped", func(t *testing.T) {
		h := testHub(t, 4)
		h.acquire(room)
		c := bareConn(room, 8)
		if live, _ := h.step(c, 0, 0); !live {
			t.Fatal("want live")
		}
		for _, s := range []int64{1, 2, 2, 1, 3} {
			h.dispatch(msgEnv(room, s, "x"))
		}
		if got := queued(c); !equal(got, []int64{1, 2, 3}) {
			t.Fatalf("queued %v", got)
		}
	})
	t.Run("a gap resets the ring and is counted", func(t *testing.T) {
		h := testHub(t, 8)
		h.acquire(room)
		for _, s := range []int64{1, 2, 5, 6} {
			h.dispatch(msgEnv(room, s, "x"))
		}
		if _, ok := h.rooms[room].ring.after(2); ok {
			t.Fatal("the ring must not bridge a gap")
		}
		if got, ok := h.rooms[room].ring.after(4); !ok || !equal(seqs(got), []int64{5, 6}) {
			t.Fatalf("ring after the gap: %v %v", seqs(got), ok)
		}
	})
	t.Run("a full queue cuts that socket only", func(t *testing.T) {
		h := testHub(t, 8)
		h.acquire(room)
		h.acquire(room)
		slow, fast := bareConn(room, 1), bareConn(room, 8)
		h.step(slow, 0, 0)
		h.step(fast, 0, 0)
		for s := int64(1); s <= 3; s++ {
			h.dispatch(msgEnv(room, s, "x"))
		}
		select {
		case <-slow.done:
		default:
			t.Fatal("the slow socket must be failed")
		}
		if slow.code != CloseSlowConsumer {
			t.Fatalf("close code %d, want %d", slow.code, CloseSlowConsumer)
		}
		if got := queued(fast); !equal(got, []int64{1, 2, 3}) {
			t.Fatalf("fast socket got %v", got)
		}
		if _, ok := h.rooms[room].subs[slow]; ok {
			t.Fatal("the slow socket must leave the live set")
		}
	})
	t.Run("rooms are forgotten after the grace period", func(t *testing.T) {
		h := testHub(t, 4)
		h.acquire(room)
		h.release(room, nil)
		h.sweep(time.Now())
		if h.rooms[room] == nil {
			t.Fatal("forgotten too early")
		}
		h.sweep(time.Now().Add(2 * time.Minute))
		if h.rooms[room] != nil {
			t.Fatal("not forgotten after the grace period")
		}
	})
}

// TestHubDispatchNext: local deliveries (local.go) interleaved with the
// tail's deliveries of the same events reach a socket once each, in seq
// order, and a local event that is not the room's next is left to the tail
// with its reason.
func TestHubDispatchNext(t *testing.T) {
	const room = schemas.ID(42)
	const (
		tail  = false
		local = true
		taken = localTaken
	)
	type step struct {
		local bool
		seq   int64
		want  localSkip // dispatchNext's answer (local steps only)
	}
	tests := []struct {
		name  string
		steps []step
		queue []int64
	}{
		{"nothing dispatched yet: left to the tail", []step{{local, 1, skipNoHead}, {tail, 1, ""}, {local, 2, taken}}, []int64{1, 2}},
		{"local first, the tail's copies dropped", []step{{tail, 1, ""}, {local, 2, taken}, {local, 3, taken}, {tail, 2, ""}, {tail, 3, ""}, {tail, 4, ""}}, []int64{1, 2, 3, 4}},
		{"the tail first, the local copy refused", []step{{tail, 1, ""}, {tail, 2, ""}, {local, 2, skipDelivered}, {local, 3, taken}}, []int64{1, 2, 3}},
		{"a local event past a gap waits for the tail's", []step{{tail, 1, ""}, {local, 3, taken}, {tail, 2, ""}, {tail, 3, ""}, {local, 4, taken}, {tail, 4, ""}}, []int64{1, 2, 3, 4}},
		{"local events out of order, released in order", []step{{tail, 1, ""}, {local, 4, taken}, {local, 3, taken}, {local, 3, skipHeld}, {local, 2, taken}, {tail, 2, ""}, {tail, 3, ""}, {tail, 4, ""}, {tail, 5, ""}}, []int64{1, 2, 3, 4, 5}},
		{"held, then the tail brings them first", []step{{tail, 1, ""}, {local, 3, taken}, {tail, 2, ""}, {tail, 3, ""}, {tail, 4, ""}, {local, 4, skipDelivered}, {local, 5, taken}}, []int64{1, 2, 3, 4, 5}},
		{"a duplicate of a dispatched one refused", []step{{tail, 1, ""}, {tail, 2, ""}, {local, 1, skipDelivered}, {local, 2, skipDelivered}}, []int64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := testHub(t, 8)
			h.acquire(room)
			c := bareConn(room, 16)
			if live, _ := h.step(c, 0, 0); !live {
				t.Fatal("want live")
			}
			for _, s := range tt.steps {
				if !s.local {
					h.dispatch(msgEnv(room, s.seq, "x"))
					continue
				}
				if got := h.dispatchNext(msgEnv(room, s.seq, "x")); got != s.want {
					t.Fatalf("dispatchNext(%d) = %q, want %q", s.seq, got, s.want)
				}
			}
			if got := queued(c); !equal(got, tt.queue) {
				t.Fatalf("queued %v, want %v", got, tt.queue)
			}
		})
	}
	t.Run("untracked or blocked rooms are the tail's", func(t *testing.T) {
		h := testHub(t, 8)
		if got := h.dispatchNext(msgEnv(room, 1, "x")); got != skipNoHead {
			t.Fatalf("untracked room: %q, want %q", got, skipNoHead)
		}
		h.acquire(room)
		h.dispatch(msgEnv(room, 1, "x"))
		h.block(room, 2)
		if got := h.dispatchNext(msgEnv(room, 3, "x")); got != skipBlocked {
			t.Fatalf("blocked room: %q, want %q", got, skipBlocked)
		}
	})
}

// TestHubAheadBounded: a room holds at most localAhead local events past a
// gap; the rest are left to the tail, and a block drops what it held.
func TestHubAheadBounded(t *testing.T) {
	const room = schemas.ID(43)
	h := testHub(t, 8)
	h.acquire(room)
	c := bareConn(room, 2*localAhead+8)
	if live, _ := h.step(c, 0, 0); !live {
		t.Fatal("want live")
	}
	h.dispatch(msgEnv(room, 1, "x"))
	for seq := int64(3); seq < 3+localAhead; seq++ {
		if why := h.dispatchNext(msgEnv(room, seq, "x")); why != localTaken {
			t.Fatalf("seq %d refused (%s) with %d held", seq, why, seq-3)
		}
	}
	if why := h.dispatchNext(msgEnv(room, 3+localAhead, "x")); why != skipAheadFull {
		t.Fatalf("seq %d past the bound of %d: %q, want %q", 3+localAhead, localAhead, why, skipAheadFull)
	}
	h.dispatch(msgEnv(room, 2, "x")) // releases 3 .. 2+localAhead
	want := []int64{}
	for seq := int64(1); seq < 3+localAhead; seq++ {
		want = append(want, seq)
	}
	if got := queued(c); !equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}

	h.dispatchNext(msgEnv(room, 4+localAhead, "x")) // held: 3+localAhead is missing
	h.block(room, 3+localAhead)
	h.mu.Lock()
	held := len(h.rooms[room].ahead)
	h.mu.Unlock()
	if held != 0 {
		t.Fatalf("a blocked room still holds %d local events", held)
	}
}

func TestHubDelivered(t *testing.T) {
	const room = schemas.ID(44)
	h := testHub(t, 8)
	if h.delivered(room, 1) {
		t.Fatal("an untracked room reports seq 1 delivered")
	}
	h.acquire(room)
	if h.delivered(room, 1) {
		t.Fatal("a room without a head reports seq 1 delivered")
	}
	h.dispatch(msgEnv(room, 1, "x"))
	h.dispatchNext(msgEnv(room, 2, "x"))
	h.dispatchNext(msgEnv(room, 4, "x")) // held, not delivered
	for seq, want := range map[int64]bool{1: true, 2: true, 3: false, 4: false} {
		if got := h.delivered(room, seq); got != want {
			t.Errorf("delivered(%d) = %v, want %v", seq, got, want)
		}
	}
}
