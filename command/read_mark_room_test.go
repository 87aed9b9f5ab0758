package command

import (
	"crypto/sha256"
	"testing"

	"happychat/schemas"
)

// roomWithReaders is an open room where users 1 and 2 are members and 1
// sent one message; it returns the room and the message id.
func roomWithReaders(t *testing.T, dp deps) (*room, schemas.ID) {
	t.Helper()
	r := withMember(t, 7, dp)
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 2, Nickname: "b"}, dp); err != nil {
		t.Fatal(err)
	}
	d, err := decideSend(r, Command{Kind: KindSend, RoomID: 7, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m1"}, dp)
	if err != nil || len(d.events) != 1 {
		t.Fatalf("send: %v", err)
	}
	return r, d.events[0].ID
}

func TestDecideReadMark(t *testing.T) {
	dp := testDeps(20, users{})
	r, msg := roomWithReaders(t, dp)
	mark := func(u, upTo schemas.ID) (decision, error) {
		return decideReadMark(r, Command{Kind: KindReadMark, RoomID: 7, UserID: u, MessageID: upTo}, dp)
	}

	d, err := mark(2, msg)
	if err != nil || len(d.events) != 1 {
		t.Fatalf("a member's first mark: %v, %d events", err, len(d.events))
	}
	e := d.events[0]
	if e.Seq != r.seq || e.RoomID != 7 || e.UserID != 2 || e.Payload.(schemas.ReadMarkMoved).UpTo != msg || d.result.Seq != e.Seq {
		t.Fatalf("appended %+v (room at seq %d), result %+v", e, r.seq, d.result)
	}
	if r.members[2].readUpTo != msg {
		t.Fatalf("the fold keeps mark %d, want %d", r.members[2].readUpTo, msg)
	}
	// The same mark again, or an older one: done, nothing appended.
	for _, upTo := range []schemas.ID{msg, msg - 1} {
		if d, err := mark(2, upTo); err != nil || len(d.events) != 0 || !d.result.Done {
			t.Fatalf("stale mark %d: %v, %d events, %+v", upTo, err, len(d.events), d.result)
		}
	}
	refusals := []struct {
		name string
		user schemas.ID
		upTo schemas.ID
		want schemas.Code
	}{
		{"a stranger", 3, msg, schemas.CodeForbidden},
		{"after the room's newest event", 1, r.lastID + 1, schemas.CodeBadRequest},
		{"no message id", 1, 0, schemas.CodeBadRequest},
	}
	for _, tt := range refusals {
		if d, err := mark(tt.user, tt.upTo); code(err) != tt.want || len(d.events) != 0 {
			t.Errorf("%s: %v, %d events; want %q", tt.name, err, len(d.events), tt.want)
		}
	}
	if _, err := decideReadMark(nil, Command{Kind: KindReadMark, UserID: 1, MessageID: 5}, dp); code(err) != schemas.CodeNotFound {
		t.Errorf("no such room: %v", err)
	}
	// A former member has no mark the room sees.
	if _, err := decideLeave(r, Command{Kind: KindLeave, RoomID: 7, UserID: 2}, dp); err != nil {
		t.Fatal(err)
	}
	if _, err := mark(2, r.lastID); code(err) != schemas.CodeForbidden {
		t.Errorf("former member: %v", err)
	}
}

// The fold applies a mark only forward and only for a member, without
// touching the stored room (next copies the members).
func TestReadMarkFold(t *testing.T) {
	dp := testDeps(20, users{})
	r, msg := roomWithReaders(t, dp)
	env := func(u, upTo schemas.ID) schemas.Envelope {
		return schemas.Envelope{ID: r.lastID + 1, RoomID: 7, UserID: u, Seq: r.seq + 1, Payload: schemas.ReadMarkMoved{UpTo: upTo}}
	}
	n, ok, err := r.next(env(1, msg))
	if err != nil || !ok || n.members[1].readUpTo != msg || r.members[1].readUpTo != 0 {
		t.Fatalf("next: %v %v; new %d, stored %d", err, ok, n.members[1].readUpTo, r.members[1].readUpTo)
	}
	back, _, err := n.next(schemas.Envelope{ID: n.lastID + 1, RoomID: 7, UserID: 1, Seq: n.seq + 1, Payload: schemas.ReadMarkMoved{UpTo: msg - 5}})
	if err != nil || back.members[1].readUpTo != msg || back.seq != n.seq+1 {
		t.Fatalf("a mark moved back: %v, mark %d", err, back.members[1].readUpTo)
	}
	stranger, _, err := back.next(schemas.Envelope{ID: back.lastID + 1, RoomID: 7, UserID: 9, Seq: back.seq + 1, Payload: schemas.ReadMarkMoved{UpTo: msg}})
	if _, ok := stranger.members[9]; err != nil || ok {
		t.Fatalf("a stranger's mark made a member: %v", err)
	}
}

// Snapshots keep the marks (version 4), so an instance that starts from one
// decides "moves forward" as the log would.
func TestSnapshotKeepsReadMarks(t *testing.T) {
	dp := testDeps(20, users{})
	r, msg := roomWithReaders(t, dp)
	if _, err := decideReadMark(r, Command{Kind: KindReadMark, RoomID: 7, UserID: 2, MessageID: msg}, dp); err != nil {
		t.Fatal(err)
	}
	c := &capture{part: 0, offset: 42, lastID: r.lastID, rooms: []*room{r}, users: users{}}
	body, err := c.encodeState("topic")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	st, err := decodeState(body, sum[:], "topic", 0)
	if err != nil {
		t.Fatal(err)
	}
	ps := newPartState()
	st.install(ps)
	if got := ps.rooms[7].members[2].readUpTo; got != msg {
		t.Fatalf("installed mark %d, want %d", got, msg)
	}
	if got := ps.rooms[7].members[1].readUpTo; got != 0 {
		t.Fatalf("member without a mark installed with %d", got)
	}
}

// A version 3 snapshot (before marks) is still read: its members have no
// mark, which the log after it fills in.
func TestSnapshotV3StillRead(t *testing.T) {
	body := []byte(`{"v":3,"topic_id":"t","partition":0,"offset":1,"last_id":"5","rooms":[{"id":"7","status":"open","title":"x","created_at":"2026-11-22T21:21:13.123Z","seq":2,"last_id":"5","messages":0,"members":[{"user":"1","join_id":"5","nickname":"a","joined_at":"2026-11-22T21:21:13.123Z"}]}],"users":[]}`)
	sum := sha256.Sum256(body)
	st, err := decodeState(body, sum[:], "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	ps := newPartState()
	st.install(ps)
	if m, ok := ps.rooms[7].members[1]; !ok || m.readUpTo != 0 {
		t.Fatalf("member %+v %v", m, ok)
	}
}
