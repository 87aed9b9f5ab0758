package realtime

import (
	"slices"
	"strings"
	"testing"

	"happychat/schemas"
)

// TestHubBlock: an event this build does not know, above the room's head,
// stops the room: its live sockets close with 1013, nothing after it is
// delivered, and a socket still catching up is refused at its next step. A
// duplicate (at or below the head) and an untracked room change nothing.
func TestHubBlock(t *testing.T) {
	const room = schemas.ID(42)
	h := testHub(t, 16)
	if h.block(room, 1) {
		t.Fatal("an untracked room was blocked")
	}
	h.acquire(room)
	live := bareConn(room, 16)
	if ok, _ := h.step(live, 0, 0); !ok {
		t.Fatal("socket not live")
	}
	h.dispatch(msgEnv(room, 1, "a"))
	h.dispatch(msgEnv(room, 2, "b"))
	if h.block(room, 2) {
		t.Fatal("a duplicate of seq 2 (at the head) blocked the room")
	}
	if got := queued(live); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("delivered %v before the block, want 1, 2", got)
	}
	if !h.block(room, 3) {
		t.Fatal("seq 3 above the head did not block the room")
	}
	if live.code != CloseTryAgain {
		t.Errorf("live socket closed with %d, want %d", live.code, CloseTryAgain)
	}
	h.dispatch(msgEnv(room, 4, "after the hole"))
	if got := queued(live); len(got) != 0 {
		t.Errorf("delivered %v after the block", got)
	}
	late := bareConn(room, 16)
	if ok, frames := h.step(late, 0, 0); ok || frames != nil || late.code != CloseTryAgain {
		t.Errorf("a catching-up socket stepped to live=%v frames=%v close=%d, want refused with %d", ok, frames, late.code, CloseTryAgain)
	}
	if !h.block(room, 2) {
		t.Error("a blocked room reports unblocked")
	}
}

// TestBlockedRooms: a blocked room refuses handshakes with 503 and makes
// /readyz fail, naming it.
func TestBlockedRooms(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{m: m, log: testHub(t, 1).log}
	if s.roomBlocked(42) != nil || s.Blocked(t.Context()) != nil {
		t.Fatal("blocked before anything happened")
	}
	s.blockRoom(42, schemas.ErrUnknownEvent)
	s.blockRoom(42, schemas.ErrUnknownEvent)
	if e := s.roomBlocked(42); e == nil || e.Code != schemas.CodeUnavailable || e.RetryAfter <= 0 {
		t.Errorf("handshake refusal %+v, want unavailable with Retry-After", e)
	}
	if s.roomBlocked(43) != nil {
		t.Error("another room is refused")
	}
	err = s.Blocked(t.Context())
	if err == nil || !strings.Contains(err.Error(), "1 rooms") || !strings.Contains(err.Error(), "room 42") {
		t.Errorf("readiness %v, want an error naming 1 room, room 42", err)
	}
}
