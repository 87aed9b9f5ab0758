package realtime

import (
	"slices"
	"testing"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// TestByKeys: a poll's events split by room, in order: the rooms whose
// every sealed text has its key cached go first, and one text without
// holds back its whole room (and only it).
func TestByKeys(t *testing.T) {
	sealed := func(msg schemas.ID) (msgkeys.Key, *schemas.Sealed) {
		t.Helper()
		k, err := msgkeys.New(msg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := k.Seal("text")
		if err != nil {
			t.Fatal(err)
		}
		return k, s
	}
	kA, sA := sealed(1)
	_, sB := sealed(2) // never seeded: the store must be read
	keys := msgkeys.NewReader(nil, "rooms")
	keys.Seed([]msgkeys.Key{kA})
	s := &Service{cfg: Config{MessageKeys: keys}}
	const roomA, roomB, roomC = 10, 20, 30
	envs := []schemas.Envelope{
		{RoomID: roomB, Seq: 1, Payload: schemas.RoomJoined{}},
		{RoomID: roomA, Seq: 1, Payload: schemas.MessageSent{Sealed: sA, ClientMsgID: "a"}},
		{RoomID: roomB, Seq: 2, Payload: schemas.MessageSent{Sealed: sB, ClientMsgID: "b"}},
		{RoomID: roomC, Seq: 1, Payload: schemas.MessageSent{Text: "plain", ClientMsgID: "c"}},
		{RoomID: roomA, Seq: 2, Payload: schemas.RoomLeft{}},
		{RoomID: roomB, Seq: 3, Payload: schemas.RoomLeft{}},
	}
	cached, waiting := s.byKeys(envs)
	type at struct {
		room schemas.ID
		seq  int64
	}
	list := func(envs []schemas.Envelope) (out []at) {
		for _, e := range envs {
			out = append(out, at{e.RoomID, e.Seq})
		}
		return out
	}
	wantCached := []at{{roomA, 1}, {roomC, 1}, {roomA, 2}}
	wantWaiting := []at{{roomB, 1}, {roomB, 2}, {roomB, 3}}
	if got := list(cached); !slices.Equal(got, wantCached) {
		t.Errorf("cached = %v, want %v", got, wantCached)
	}
	if got := list(waiting); !slices.Equal(got, wantWaiting) {
		t.Errorf("waiting = %v, want %v", got, wantWaiting)
	}
	// Nothing to read: the poll as it came, in one part.
	if cached, waiting := s.byKeys(envs[:2]); len(cached) != 2 || waiting != nil {
		t.Errorf("all cached: %d cached, %d waiting", len(cached), len(waiting))
	}
}
