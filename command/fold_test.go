package command

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"happychat/schemas"
)

type plainRules struct{}

func (plainRules) Soften(s string) string  { return s }
func (plainRules) Effects(string) []string { return []string{} }

// testDeps returns decision dependencies with a counter for ids and a fixed
// user-location fold.
func testDeps(capacity int, locs users) deps {
	next := schemas.ID(1000)
	s := &Service{cfg: Config{Rules: plainRules{}}}
	batch := map[sentKey]sent{}
	msgs := map[schemas.ID]*msgMeta{}
	return deps{
		findMsg: func(id schemas.ID) (*msgMeta, bool, error) {
			m, ok := msgs[id]
			return m, ok, nil
		},
		recordMsg:  func(m *msgMeta) { msgs[m.id] = m },
		editWindow: 15 * time.Minute,
		now:        time.Date(2026, 11, 22, 21, 21, 13, 123e6, time.UTC),
		nextID:     func() (schemas.ID, error) { next++; return next, nil },
		observe:    func(id schemas.ID) { next = max(next, id) },
		locate:     func(u schemas.ID) (location, bool) { l, ok := locs[u]; return l, ok },
		capacity:   capacity,
		render:     s.render,
		findSent: func(k sentKey) (sent, bool, error) {
			v, ok := batch[k]
			return v, ok, nil
		},
		recordSent: func(k sentKey, v sent) { batch[k] = v },
	}
}

func openRoom(t *testing.T, id schemas.ID, dp deps) *room {
	t.Helper()
	d, r, err := decideCreateRoom(nil, Command{Kind: KindCreateRoom, RoomID: id, Admin: true, Title: "Happy cats"}, dp)
	if err != nil || len(d.events) != 1 || r.seq != 1 || r.status != schemas.RoomStatusOpen {
		t.Fatalf("create: %v %+v", err, r)
	}
	return r
}

func code(err error) schemas.Code {
	var e *schemas.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestDecideCapacityAndSeq(t *testing.T) {
	dp := testDeps(3, users{})
	r := openRoom(t, 7, dp)
	for u := schemas.ID(1); u <= 3; u++ {
		d, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: u, Nickname: fmt.Sprint("u", u)}, dp)
		if err != nil || len(d.events) != 1 {
			t.Fatalf("join %d: %v", u, err)
		}
		if got := d.events[0].Seq; got != int64(u)+1 {
			t.Fatalf("join %d got seq %d", u, got)
		}
	}
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 4}, dp); code(err) != schemas.CodeRoomFull {
		t.Fatalf("4th join: %v, want room_full", err)
	}
	// Re-joining is a no-op even when full.
	if d, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 2}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("rejoin: %v, %d events", err, len(d.events))
	}
	// A leave frees a seat.
	if d, err := decideLeave(r, Command{Kind: KindLeave, RoomID: 7, UserID: 2}, dp); err != nil || len(d.events) != 1 {
		t.Fatalf("leave: %v", err)
	}
	if d, err := decideLeave(r, Command{Kind: KindLeave, RoomID: 7, UserID: 2}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("second leave must be a no-op: %v", err)
	}
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 4}, dp); err != nil {
		t.Fatalf("join after leave: %v", err)
	}
	if r.seq != 6 || len(r.members) != 3 {
		t.Fatalf("seq %d members %d, want 6 and 3", r.seq, len(r.members))
	}
}

func TestDecideSendMembershipAndDedupe(t *testing.T) {
	dp := testDeps(20, users{})
	r := openRoom(t, 7, dp)
	send := Command{Kind: KindSend, RoomID: 7, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m1"}
	if _, err := decideSend(r, send, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("non-member send: %v, want forbidden", err)
	}
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 1, Nickname: "a"}, dp); err != nil {
		t.Fatal(err)
	}
	d1, err := decideSend(r, send, dp)
	if err != nil || len(d1.events) != 1 {
		t.Fatalf("send: %v", err)
	}
	// The retry is answered with the original message, found by the
	// recorded key (same room, user and client_msg_id).
	retry := send
	retry.Body = "different body"
	d2, err := decideSend(r, retry, dp)
	if err != nil || len(d2.events) != 0 || d2.result.Message.ID != d1.result.Message.ID || d2.result.Message.Body != "hi" ||
		d2.result.Message.Seq != d1.result.Message.Seq {
		t.Fatalf("retry: %v %+v", err, d2.result.Message)
	}
	// A lookup that cannot be answered refuses the send.
	dp.findSent = func(sentKey) (sent, bool, error) { return sent{}, false, errors.New("store down") }
	other := send
	other.ClientMsgID = "m2"
	if _, err := decideSend(r, other, dp); code(err) != schemas.CodeUnavailable {
		t.Fatalf("send with the store down: %v, want unavailable", err)
	}
}

func TestJoinIDAboveUsersLatestJoin(t *testing.T) {
	// The user's latest join elsewhere carries an id far ahead of this
	// owner's generator (its owner's clock ran ahead): the new join's id
	// is floored above it, so "latest join wins" keeps the new room.
	locs := users{1: {room: 100, joinID: 1_000_000, active: true}}
	dp := testDeps(20, locs)
	r := openRoom(t, 200, dp)
	d, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 200, UserID: 1, Nickname: "a"}, dp)
	if err != nil || len(d.events) != 1 {
		t.Fatalf("join: %v", err)
	}
	if d.events[0].ID <= 1_000_000 {
		t.Fatalf("join id %d is not above the user's latest join 1000000", d.events[0].ID)
	}
}

func TestDecideUnknownAndProposedRooms(t *testing.T) {
	dp := testDeps(20, users{})
	if _, err := decideJoin(nil, Command{Kind: KindJoin, RoomID: 9, UserID: 1}, dp); code(err) != schemas.CodeNotFound {
		t.Fatalf("join unknown: %v", err)
	}
	_, r, err := decideCreateRoom(nil, Command{Kind: KindCreateRoom, RoomID: 9, UserID: 5, Title: "idea"}, dp)
	if err != nil || r.status != schemas.RoomStatusProposed {
		t.Fatalf("propose: %v", err)
	}
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 9, UserID: 1}, dp); code(err) != schemas.CodeNotFound {
		t.Fatalf("join proposed: %v", err)
	}
	if _, err := decideApproveRoom(r, Command{Kind: KindApproveRoom, RoomID: 9}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("approve by non-admin: %v", err)
	}
	if _, err := decideApproveRoom(r, Command{Kind: KindApproveRoom, RoomID: 9, Admin: true}, dp); err != nil || r.status != schemas.RoomStatusOpen {
		t.Fatalf("approve: %v", err)
	}
	if _, _, err := decideCreateRoom(r, Command{Kind: KindCreateRoom, RoomID: 9, Admin: true, Title: "x"}, dp); code(err) != schemas.CodeConflict {
		t.Fatalf("create twice: %v", err)
	}
}

func TestUsersFoldLatestJoinWins(t *testing.T) {
	join := func(id, room schemas.ID) schemas.Envelope {
		return schemas.Envelope{ID: id, RoomID: room, UserID: 1, Payload: schemas.RoomJoined{}}
	}
	tests := []struct {
		name     string
		events   []schemas.Envelope
		wantRoom schemas.ID
		switches []switchNeeded
	}{
		{"in order", []schemas.Envelope{join(10, 100), join(20, 200)}, 200,
			[]switchNeeded{{room: 100, user: 1, to: 200, joinID: 20}}},
		{"out of order across partitions", []schemas.Envelope{join(20, 200), join(10, 100)}, 200,
			[]switchNeeded{{room: 100, user: 1, to: 200, joinID: 20}}},
		{"replayed join changes nothing", []schemas.Envelope{join(10, 100), join(10, 100)}, 100, nil},
		{"left then joined elsewhere", []schemas.Envelope{join(10, 100),
			{ID: 15, RoomID: 100, UserID: 1, Payload: schemas.RoomLeft{Reason: "left"}}, join(20, 200)}, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := users{}
			var got []switchNeeded
			for _, e := range tt.events {
				if sw, ok := u.apply(e); ok {
					got = append(got, sw)
				}
			}
			if u[1].room != tt.wantRoom {
				t.Fatalf("room %d, want %d", u[1].room, tt.wantRoom)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.switches) {
				t.Fatalf("switches %v, want %v", got, tt.switches)
			}
		})
	}
}

func TestJoinReportsLeftRoomAndSwitchLeave(t *testing.T) {
	locs := users{1: {room: 100, joinID: 50, active: true}}
	dp := testDeps(20, locs)
	r := openRoom(t, 200, dp)
	d, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 200, UserID: 1, Nickname: "a"}, dp)
	if err != nil || d.result.Join.LeftRoomID == nil || *d.result.Join.LeftRoomID != 100 {
		t.Fatalf("join: %v %+v", err, d.result.Join)
	}
	// The old room's owner ends the superseded membership once.
	old := openRoom(t, 100, dp)
	old.members[1] = member{joinID: 50, nickname: "a"}
	joinID := d.events[0].ID
	sw := Command{Kind: kindSwitchLeave, RoomID: 100, UserID: 1, SwitchTo: 200, SwitchJoinID: joinID}
	d2, err := decideSwitchLeave(old, sw, dp)
	if err != nil || len(d2.events) != 1 || d2.events[0].Payload.(schemas.RoomLeft).Reason != schemas.LeftReasonSwitched {
		t.Fatalf("switch leave: %v %+v", err, d2.events)
	}
	if d3, _ := decideSwitchLeave(old, sw, dp); len(d3.events) != 0 {
		t.Fatal("second switch-leave must be a no-op")
	}
}

func TestRoomApplyIdempotentAndGap(t *testing.T) {
	r := newRoom(7)
	e1 := schemas.Envelope{ID: 1, RoomID: 7, Seq: 1, Payload: schemas.RoomCreated{Title: "t"}}
	if ok, err := r.apply(e1); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := r.apply(e1); ok || err != nil {
		t.Fatal("re-applying must be a no-op", ok, err)
	}
	if _, err := r.apply(schemas.Envelope{ID: 3, RoomID: 7, Seq: 3, Payload: schemas.RoomApproved{}}); !errors.Is(err, errGap) {
		t.Fatalf("gap: %v", err)
	}
}
