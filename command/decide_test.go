package command

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// Unit tests of the use cases' decide functions (one file each) and of
// decide's dispatch: what each appends and answers, from a room state built
// by deciding earlier commands.

// types lists the event types of a decision, in order.
func types(d decision) []string {
	var out []string
	for _, e := range d.events {
		out = append(out, e.Payload.EventType())
	}
	return out
}

// proposedRoom returns a room a non-admin proposed.
func proposedRoom(t *testing.T, id schemas.ID, dp deps) *room {
	t.Helper()
	_, r, err := decideCreateRoom(nil, Command{Kind: KindCreateRoom, RoomID: id, UserID: 5, Title: "idea"}, dp)
	if err != nil || r.status != schemas.RoomStatusProposed {
		t.Fatalf("propose: %v", err)
	}
	return r
}

// withMember returns an open room with user 1 ("a") as a member.
func withMember(t *testing.T, id schemas.ID, dp deps) *room {
	t.Helper()
	r := openRoom(t, id, dp)
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: id, UserID: 1, Nickname: "a"}, dp); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecideDispatch(t *testing.T) {
	const id = schemas.ID(7)
	tests := []struct {
		name     string
		room     func(*testing.T, deps) *room // state before; nil: no such room
		cmd      Command
		want     []string // event types appended
		wantCode schemas.Code
	}{
		{"create", nil, Command{Kind: KindCreateRoom, Admin: true, Title: "t"}, []string{schemas.TypeRoomCreated}, ""},
		{"propose", nil, Command{Kind: KindCreateRoom, UserID: 5, Title: "t"}, []string{schemas.TypeRoomProposed}, ""},
		{"approve", func(t *testing.T, dp deps) *room { return proposedRoom(t, id, dp) },
			Command{Kind: KindApproveRoom, Admin: true}, []string{schemas.TypeRoomApproved}, ""},
		{"approve an open room: nothing", func(t *testing.T, dp deps) *room { return openRoom(t, id, dp) },
			Command{Kind: KindApproveRoom, Admin: true}, nil, ""},
		{"reject", func(t *testing.T, dp deps) *room { return proposedRoom(t, id, dp) },
			Command{Kind: KindRejectRoom, Admin: true, Reason: "duplicate"}, []string{schemas.TypeRoomRejected}, ""},
		{"join", func(t *testing.T, dp deps) *room { return openRoom(t, id, dp) },
			Command{Kind: KindJoin, UserID: 2, Nickname: "b"}, []string{schemas.TypeRoomJoined}, ""},
		{"join again: nothing", func(t *testing.T, dp deps) *room { return withMember(t, id, dp) },
			Command{Kind: KindJoin, UserID: 1, Nickname: "a"}, nil, ""},
		{"join no room", nil, Command{Kind: KindJoin, UserID: 2}, nil, schemas.CodeNotFound},
		{"leave", func(t *testing.T, dp deps) *room { return withMember(t, id, dp) },
			Command{Kind: KindLeave, UserID: 1}, []string{schemas.TypeRoomLeft}, ""},
		{"send", func(t *testing.T, dp deps) *room { return withMember(t, id, dp) },
			Command{Kind: KindSend, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m"}, []string{schemas.TypeMessageSent}, ""},
		{"send by a stranger", func(t *testing.T, dp deps) *room { return withMember(t, id, dp) },
			Command{Kind: KindSend, UserID: 2, Body: "hi", ClientMsgID: "m"}, nil, schemas.CodeForbidden},
		{"switch-leave", func(t *testing.T, dp deps) *room { return withMember(t, id, dp) },
			Command{Kind: kindSwitchLeave, UserID: 1, SwitchTo: 8, SwitchJoinID: 1_000_000}, []string{schemas.TypeRoomLeft}, ""},
		{"presence", func(t *testing.T, dp deps) *room { return withMember(t, id, dp) },
			Command{Kind: KindPresence}, nil, ""},
		{"unknown kind", func(t *testing.T, dp deps) *room { return openRoom(t, id, dp) },
			Command{Kind: "explode"}, nil, schemas.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			var before *room
			if tt.room != nil {
				before = tt.room(t, dp)
			}
			cmd := tt.cmd
			cmd.RoomID = id
			d, r, err := decide(before, cmd, dp)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if got := types(d); !slices.Equal(got, tt.want) {
				t.Fatalf("appended %v, want %v", got, tt.want)
			}
			// The working set gets the decided room only when something
			// was appended, and then at the seq of the last event.
			if (r != nil) != (len(tt.want) > 0) {
				t.Fatalf("room for the working set %v, want one: %v", r, len(tt.want) > 0)
			}
			if r != nil && r.seq != d.events[len(d.events)-1].Seq {
				t.Fatalf("decided room at seq %d, last event at %d", r.seq, d.events[len(d.events)-1].Seq)
			}
		})
	}
}

func TestDecideApproveRoom(t *testing.T) {
	tests := []struct {
		name       string
		room       func(*testing.T, deps) *room
		admin      bool
		wantEvents int
		wantCode   schemas.Code
	}{
		{"a proposed room opens", func(t *testing.T, dp deps) *room { return proposedRoom(t, 9, dp) }, true, 1, ""},
		{"an open room is answered as it is", func(t *testing.T, dp deps) *room { return openRoom(t, 9, dp) }, true, 0, ""},
		{"only an admin approves", func(t *testing.T, dp deps) *room { return proposedRoom(t, 9, dp) }, false, 0, schemas.CodeForbidden},
		{"no such room", func(*testing.T, deps) *room { return nil }, true, 0, schemas.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			r := tt.room(t, dp)
			d, err := decideApproveRoom(r, Command{Kind: KindApproveRoom, RoomID: 9, Admin: tt.admin}, dp)
			if code(err) != tt.wantCode || len(d.events) != tt.wantEvents {
				t.Fatalf("err %v, %d events; want code %q, %d events", err, len(d.events), tt.wantCode, tt.wantEvents)
			}
			if err != nil {
				return
			}
			if r.seq != 1+int64(tt.wantEvents) {
				t.Errorf("room at seq %d after %d events", r.seq, tt.wantEvents)
			}
			if d.result.Room == nil || d.result.Room.Status != schemas.RoomStatusOpen || d.result.Room.Capacity != 20 {
				t.Errorf("answer %+v, want the open room", d.result.Room)
			}
		})
	}
}

// Rejecting turns a proposal down for good: once, by an admin, never an
// open room; a rejected proposal cannot be approved after; and the event
// waits for feature level 3.
func TestDecideRejectRoom(t *testing.T) {
	rejected := func(t *testing.T, dp deps) *room {
		r := proposedRoom(t, 9, dp)
		if _, err := decideRejectRoom(r, Command{Kind: KindRejectRoom, RoomID: 9, Admin: true}, dp); err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name       string
		room       func(*testing.T, deps) *room
		kind       Kind
		admin      bool
		level      int
		wantEvents int
		wantStatus string
		wantCode   schemas.Code
	}{
		{"a proposal is rejected", func(t *testing.T, dp deps) *room { return proposedRoom(t, 9, dp) }, KindRejectRoom, true, 3, 1, schemas.RoomStatusRejected, ""},
		{"rejecting again changes nothing", rejected, KindRejectRoom, true, 3, 0, schemas.RoomStatusRejected, ""},
		{"an open room cannot be rejected", func(t *testing.T, dp deps) *room { return openRoom(t, 9, dp) }, KindRejectRoom, true, 3, 0, "", schemas.CodeConflict},
		{"only an admin rejects", func(t *testing.T, dp deps) *room { return proposedRoom(t, 9, dp) }, KindRejectRoom, false, 3, 0, "", schemas.CodeForbidden},
		{"no such room", func(*testing.T, deps) *room { return nil }, KindRejectRoom, true, 3, 0, "", schemas.CodeNotFound},
		{"a rejected proposal is not approved", rejected, KindApproveRoom, true, 3, 0, "", schemas.CodeConflict},
		{"not before feature level 3", func(t *testing.T, dp deps) *room { return proposedRoom(t, 9, dp) }, KindRejectRoom, true, 2, 0, "", schemas.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			r := tt.room(t, dp)
			dp.checkEmit = func(ev schemas.Event) error {
				if err := schemas.Events.CheckEmitEvent(ev, tt.level); err != nil {
					return schemas.Errorf(schemas.CodeUnavailable, "needs a higher feature level")
				}
				return nil
			}
			d, _, err := decide(r, Command{Kind: tt.kind, RoomID: 9, Admin: tt.admin, Reason: "비슷한 방이 있어요"}, dp)
			if code(err) != tt.wantCode || len(d.events) != tt.wantEvents {
				t.Fatalf("err %v, %d events; want code %q, %d events", err, len(d.events), tt.wantCode, tt.wantEvents)
			}
			if err != nil {
				return
			}
			if d.result.Room == nil || d.result.Room.Status != tt.wantStatus {
				t.Errorf("answer %+v, want status %s", d.result.Room, tt.wantStatus)
			}
			if tt.wantEvents == 1 && d.events[0].Payload.(schemas.RoomRejected).Reason != "비슷한 방이 있어요" {
				t.Errorf("event %+v does not carry the reason", d.events[0])
			}
		})
	}
}

func TestDecideCreateRoomRetry(t *testing.T) {
	tests := []struct {
		name                string
		cmd                 Command
		wantCode            schemas.Code
		created, accepted   bool
		wantTitle, wantDesc string
	}{
		{"the admin's retry answers the room", Command{Retry: true, Admin: true, Title: "Cats", Description: "purr"},
			"", true, false, "Cats", "purr"},
		{"a proposer's retry answers the room", Command{Retry: true, Title: "Cats", Description: "purr"},
			"", false, true, "Cats", "purr"},
		{"a retry with another title is a conflict", Command{Retry: true, Admin: true, Title: "Dogs", Description: "purr"},
			schemas.CodeConflict, false, false, "", ""},
		{"a retry with another description is a conflict", Command{Retry: true, Admin: true, Title: "Cats", Description: "woof"},
			schemas.CodeConflict, false, false, "", ""},
		{"the same request without a key is a conflict", Command{Admin: true, Title: "Cats", Description: "purr"},
			schemas.CodeConflict, false, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			_, r, err := decideCreateRoom(nil, Command{Kind: KindCreateRoom, RoomID: 9, Admin: true, Title: "Cats", Description: "purr"}, dp)
			if err != nil {
				t.Fatal(err)
			}
			cmd := tt.cmd
			cmd.Kind, cmd.RoomID = KindCreateRoom, 9
			d, nr, err := decideCreateRoom(r, cmd, dp)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if len(d.events) != 0 || nr != nil || r.seq != 1 {
				t.Fatalf("a second create appended %d events (new room %v, seq %d)", len(d.events), nr, r.seq)
			}
			if err != nil {
				return
			}
			if d.result.Created != tt.created || d.result.Accepted != tt.accepted {
				t.Errorf("created %v accepted %v, want %v %v", d.result.Created, d.result.Accepted, tt.created, tt.accepted)
			}
			if d.result.Room == nil || d.result.Room.Title != tt.wantTitle || d.result.Room.Description != tt.wantDesc {
				t.Errorf("answer %+v", d.result.Room)
			}
		})
	}
}

// A member whose latest join is now in another room (the switch-leave not
// appended yet) is no member here any more: a join ends the stale
// membership and joins anew, and a send is refused.
func TestDecideSupersededMembership(t *testing.T) {
	locs := users{}
	dp := testDeps(20, locs)
	r := withMember(t, 100, dp)
	first := r.members[1].joinID
	locs[1] = location{room: 200, joinID: 9000, active: true}

	send := Command{Kind: KindSend, RoomID: 100, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m"}
	if _, err := decideSend(r, send, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("send by a superseded member: %v, want forbidden", err)
	}

	failing := dp
	failing.nextID = func() (schemas.ID, error) { return 0, errors.New("no lease") }
	if _, err := decideJoin(r.clone(), Command{Kind: KindJoin, RoomID: 100, UserID: 1, Nickname: "a2"}, failing); code(err) != schemas.CodeUnavailable {
		t.Fatalf("rejoin without ids: %v, want unavailable", err)
	}

	d, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 100, UserID: 1, Nickname: "a2"}, dp)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(d); !slices.Equal(got, []string{schemas.TypeRoomLeft, schemas.TypeRoomJoined}) {
		t.Fatalf("rejoin appended %v, want a leave and a join", got)
	}
	left := d.events[0].Payload.(schemas.RoomLeft)
	if left.Reason != schemas.LeftReasonSwitched || left.SwitchedTo != 200 || left.JoinID != 9000 || left.Nickname != "a" {
		t.Errorf("leave %+v: want switched to room 200 by join 9000, nickname a", left)
	}
	if m := r.members[1]; m.joinID == first || m.joinID != d.events[1].ID || m.joinID <= 9000 || m.nickname != "a2" {
		t.Errorf("membership %+v: want the new join %d, above 9000", m, d.events[1].ID)
	}
	if d.result.Join.LeftRoomID == nil || *d.result.Join.LeftRoomID != 200 {
		t.Errorf("left_room_id %v, want 200", d.result.Join.LeftRoomID)
	}
}

func TestLocationSuperseded(t *testing.T) {
	l := location{room: 200, joinID: 50, active: true}
	tests := []struct {
		name   string
		room   schemas.ID
		joinID schemas.ID
		want   bool
	}{
		{"an earlier join in another room", 100, 40, true},
		{"the latest join itself", 200, 50, false},
		{"an earlier join in the same room", 200, 40, false},
		{"a later join in another room", 100, 60, false},
		{"no later join (same id)", 100, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := l.superseded(tt.room, tt.joinID); got != tt.want {
				t.Fatalf("superseded(%d, %d) = %v, want %v", tt.room, tt.joinID, got, tt.want)
			}
		})
	}
}

func TestDecideSwitchLeave(t *testing.T) {
	tests := []struct {
		name   string
		joinID schemas.ID // of the membership; 0: not a member
		want   int
	}{
		{"a membership older than the later join ends", 500, 1},
		{"a membership that began after it stays", 2_000_000, 0},
		{"no membership: nothing", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			r := openRoom(t, 100, dp)
			if tt.joinID != 0 {
				r.members[1] = member{joinID: tt.joinID, nickname: "a"}
			}
			sw := Command{Kind: kindSwitchLeave, RoomID: 100, UserID: 1, SwitchTo: 200, SwitchJoinID: 1_000_000}
			d, err := decideSwitchLeave(r, sw, dp)
			if err != nil || len(d.events) != tt.want {
				t.Fatalf("err %v, %d events, want %d", err, len(d.events), tt.want)
			}
			if tt.want == 0 {
				return
			}
			e := d.events[0]
			p := e.Payload.(schemas.RoomLeft)
			if p.Reason != schemas.LeftReasonSwitched || p.SwitchedTo != 200 || p.JoinID != 1_000_000 || p.Nickname != "a" ||
				e.CausationID != "1000000" || e.UserID != 1 {
				t.Errorf("leave %+v %+v", e, p)
			}
			if _, still := r.members[1]; still {
				t.Error("still a member after the switch-leave")
			}
		})
	}
	if d, err := decideSwitchLeave(nil, Command{Kind: kindSwitchLeave, RoomID: 1, UserID: 1}, testDeps(20, users{})); err != nil || len(d.events) != 0 {
		t.Fatalf("switch-leave of an unknown room: %v, %d events", err, len(d.events))
	}
}

func TestDecidePresence(t *testing.T) {
	if _, err := decidePresence(nil); code(err) != schemas.CodeNotFound {
		t.Fatalf("presence of no room: %v", err)
	}
	dp := testDeps(20, users{})
	r := openRoom(t, 7, dp)
	// Joined in the order 3, 1, 2, a second apart.
	for i, u := range []schemas.ID{3, 1, 2} {
		dp.now = time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: u, Nickname: "n"}, dp); err != nil {
			t.Fatal(err)
		}
	}
	d, err := decidePresence(r)
	if err != nil || len(d.events) != 0 {
		t.Fatalf("presence: %v, %d events", err, len(d.events))
	}
	var got []schemas.ID
	for _, m := range d.result.Members {
		got = append(got, m.UserID)
	}
	if !slices.Equal(got, []schemas.ID{3, 1, 2}) || d.result.Seq != 4 {
		t.Fatalf("members %v at seq %d, want [3 1 2] (by join time) at seq 4", got, d.result.Seq)
	}
	if d.result.Members[0].JoinedAt != "2026-01-01T00:00:00.000Z" {
		t.Errorf("joined_at %q", d.result.Members[0].JoinedAt)
	}
}

// A refused emit (the cluster's feature level) or an id that cannot be
// minted leaves the room as it was and appends nothing.
func TestStampRefusals(t *testing.T) {
	refused := schemas.Errorf(schemas.CodeUnavailable, "not at this feature level")
	tests := []struct {
		name     string
		set      func(*deps)
		wantCode schemas.Code
	}{
		{"feature level refuses the type", func(dp *deps) {
			dp.checkEmit = func(ev schemas.Event) error {
				if ev.EventType() == schemas.TypeMessageSent {
					return refused
				}
				return nil
			}
		}, schemas.CodeUnavailable},
		{"no id", func(dp *deps) { dp.nextID = func() (schemas.ID, error) { return 0, errors.New("x") } }, schemas.CodeUnavailable},
		{"feature level allows it", func(dp *deps) { dp.checkEmit = func(schemas.Event) error { return nil } }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			r := withMember(t, 7, dp)
			tt.set(&dp)
			send := Command{Kind: KindSend, RoomID: 7, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m"}
			d, nr, err := decide(r, send, dp)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if err != nil && (len(d.events) != 0 || nr != nil || r.seq != 2 || r.messages != 0) {
				t.Fatalf("a refused send changed things: %d events, room %v, seq %d", len(d.events), nr, r.seq)
			}
			if err == nil && (len(d.events) != 1 || r.messages != 1) {
				t.Fatalf("an allowed send: %d events, %d messages", len(d.events), r.messages)
			}
		})
	}
}

func TestRoomViewCountsMessages(t *testing.T) {
	dp := testDeps(20, users{})
	r := withMember(t, 7, dp)
	if v := roomView(r, 20); v.MessageCount != 0 || v.LastMessageAt != nil || v.MemberCount != 1 {
		t.Fatalf("before sends: %+v", v)
	}
	for _, m := range []string{"m1", "m2"} {
		dp.now = dp.now.Add(time.Second)
		if _, err := decideSend(r, Command{Kind: KindSend, RoomID: 7, UserID: 1, Body: "hi", ClientMsgID: m}, dp); err != nil {
			t.Fatal(err)
		}
	}
	v := roomView(r, 20)
	if v.MessageCount != 2 || v.LastMessageAt == nil || *v.LastMessageAt != schemas.FormatTime(dp.now) {
		t.Fatalf("after two sends: count %d, last %v; want 2 at %s", v.MessageCount, v.LastMessageAt, schemas.FormatTime(dp.now))
	}
}

// RejectRoom refuses a bad reason or a non-admin before anything runs.
func TestRejectRoomChecksItsArguments(t *testing.T) {
	s := &Service{}
	for _, tc := range []struct {
		name   string
		caller Caller
		reason string
		want   schemas.Code
	}{
		{"a user", Caller{UserID: 3, Token: "u"}, "", schemas.CodeForbidden},
		{"too long", Caller{Admin: true}, strings.Repeat("가", schemas.MaxRejectReason+1), schemas.CodeBadRequest},
		{"a control character", Caller{Admin: true}, "no\x00pe", schemas.CodeBadRequest},
	} {
		if _, err := s.RejectRoom(t.Context(), tc.caller, 9, tc.reason); code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}
