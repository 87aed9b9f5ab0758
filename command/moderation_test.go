package command

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"happychat/schemas"
)

// Unit tests of the level-5 moderation rules: who may kick, ban and close,
// what a ban refuses, that a kick frees the seat, and that a kick ends a
// membership for the one-topic-room fold as a leave does.

func TestKickOnlyOwnerOrAdmin(t *testing.T) {
	dp := testDeps(3, users{})
	r := privateRoom(t, 7, dp) // owner: user 1
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 2, PeerNickname: "b"}, dp); err != nil {
		t.Fatal(err)
	}
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 3, PeerNickname: "c"}, dp); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cmd  Command
		want schemas.Code
	}{
		{"a member who is not the owner", Command{UserID: 2, Nickname: "b", Peer: 3}, schemas.CodeForbidden},
		{"a stranger", Command{UserID: 9, Nickname: "x", Peer: 3}, schemas.CodeForbidden},
		{"the owner kicks themself", Command{UserID: 1, Nickname: "a", Peer: 1}, schemas.CodeBadRequest},
		{"a non-member", Command{UserID: 1, Nickname: "a", Peer: 9}, schemas.CodeNotFound},
		{"no user", Command{UserID: 1, Nickname: "a"}, schemas.CodeBadRequest},
	}
	for _, c := range cases {
		if _, err := decideKick(r, c.cmd, dp); code(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if len(r.members) != 3 {
		t.Fatalf("a refused kick changed the members: %d", len(r.members))
	}
	// Capacity 3 is full; a kick frees the seat for the next add.
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 4, PeerNickname: "d"}, dp); code(err) != schemas.CodeRoomFull {
		t.Fatalf("over capacity: %v", err)
	}
	d, err := decideKick(r, Command{UserID: 1, Nickname: "a", Peer: 3, Reason: "spam"}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeMemberRemoved}) {
		t.Fatalf("owner kick: %v %v", err, types(d))
	}
	p := d.events[0].Payload.(schemas.MemberRemoved)
	if d.events[0].UserID != 3 || p.By != 1 || p.ByNickname != "a" || p.Nickname != "c" || p.Reason != "spam" {
		t.Fatalf("member.removed %+v %+v", d.events[0], p)
	}
	if d.result.Room.MemberCount != 2 {
		t.Fatalf("member count after kick %d", d.result.Room.MemberCount)
	}
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 4, PeerNickname: "d"}, dp); err != nil {
		t.Fatalf("the kick did not free the seat: %v", err)
	}
	// An admin kicks too, as nobody.
	d, err = decideKick(r, Command{Admin: true, Peer: 2}, dp)
	if err != nil || d.events[0].Payload.(schemas.MemberRemoved).By != 0 {
		t.Fatalf("admin kick: %v %+v", err, d.events)
	}
	// A kicked user may come back: a kick is no ban.
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 3, PeerNickname: "c"}, dp); err != nil {
		t.Fatalf("re-add after a kick: %v", err)
	}
	// A direct message has no moderator.
	_, dm, err := decideCreateDirect(nil, Command{RoomID: schemas.DirectRoomID(1, 2), UserID: 1, Nickname: "a", Peer: 2, PeerNickname: "b"}, dp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decideKick(dm, Command{Admin: true, Peer: 2}, dp); code(err) != schemas.CodeBadRequest {
		t.Fatalf("kick in a DM: %v", err)
	}
}

func TestTopicKickAdminOnly(t *testing.T) {
	dp := testDeps(5, users{})
	r := withMember(t, 8, dp)
	if _, err := decideJoin(r, Command{Kind: KindJoin, UserID: 2, Nickname: "b"}, dp); err != nil {
		t.Fatal(err)
	}
	if _, err := decideKick(r, Command{UserID: 1, Nickname: "a", Peer: 2}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("a member kicks in a topic: %v", err)
	}
	if _, err := decideKick(r, Command{Admin: true, Peer: 2}, dp); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.members[2]; ok {
		t.Fatal("still a member after the kick")
	}
}

func TestBanSurvivesRejoinAndInvite(t *testing.T) {
	dp := testDeps(5, users{})
	r := privateRoom(t, 7, dp)
	hash := inviteHash("s")
	inviteTo(t, r, dp, hash, 10, dp.now.Add(60*60*1e9))
	if _, err := decideAcceptInvite(r, Command{UserID: 2, Nickname: "b", CodeHash: hash}, dp); err != nil {
		t.Fatal(err)
	}
	if _, err := decideBan(r, Command{UserID: 2, Nickname: "b", Peer: 1}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("a member bans the owner: %v", err)
	}
	if _, err := decideBan(r, Command{UserID: 1, Nickname: "a", Peer: 1}, dp); code(err) != schemas.CodeBadRequest {
		t.Fatalf("ban self: %v", err)
	}
	d, err := decideBan(r, Command{UserID: 1, Nickname: "a", Peer: 2, Reason: "abuse"}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeMemberBanned}) {
		t.Fatalf("ban: %v %v", err, types(d))
	}
	if p := d.events[0].Payload.(schemas.MemberBanned); !p.Member || p.Nickname != "b" {
		t.Fatalf("a ban of a member: %+v", p)
	}
	if _, ok := r.members[2]; ok {
		t.Fatal("the ban left them a member")
	}
	if d, err := decideBan(r, Command{UserID: 1, Nickname: "a", Peer: 2}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("ban again: %v %v", err, types(d))
	}
	// The ban holds across invites and adds, old and new.
	if _, err := decideAcceptInvite(r, Command{UserID: 2, Nickname: "b", CodeHash: hash}, dp); code(err) != schemas.CodeBanned {
		t.Fatalf("accept while banned: %v", err)
	}
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 2, PeerNickname: "b"}, dp); code(err) != schemas.CodeBanned {
		t.Fatalf("add while banned: %v", err)
	}
	// A snapshot keeps it.
	c := &capture{rooms: []*room{r}}
	b, err := c.encodeState("t")
	if err != nil {
		t.Fatal(err)
	}
	var st snapState
	if err := schemas.StrictUnmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	ps := newPartState()
	st.install(ps)
	if !ps.room(7).banned(2) {
		t.Fatal("the snapshot lost the ban")
	}
	// Unban: the old invite admits them again.
	d, err = decideUnban(r, Command{UserID: 1, Nickname: "a", Peer: 2}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeMemberUnbanned}) {
		t.Fatalf("unban: %v %v", err, types(d))
	}
	if d, err := decideUnban(r, Command{UserID: 1, Nickname: "a", Peer: 2}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("unban again: %v %v", err, types(d))
	}
	if _, err := decideAcceptInvite(r, Command{UserID: 2, Nickname: "b", CodeHash: hash}, dp); err != nil {
		t.Fatalf("accept after the unban: %v", err)
	}
	// A non-member is banned ahead of time, and the ban holds on a topic's join.
	topic := withMember(t, 8, dp)
	if d, err := decideBan(topic, Command{Admin: true, Peer: 5}, dp); err != nil || d.events[0].Payload.(schemas.MemberBanned).Member {
		t.Fatalf("ban a non-member: %v", err)
	}
	if _, err := decideJoin(topic, Command{Kind: KindJoin, UserID: 5, Nickname: "e"}, dp); code(err) != schemas.CodeBanned {
		t.Fatalf("join while banned: %v", err)
	}
}

func TestCloseRoom(t *testing.T) {
	dp := testDeps(5, users{})
	r := withMember(t, 8, dp)
	if _, err := decideCloseRoom(r, Command{UserID: 1}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("a member closes: %v", err)
	}
	priv := privateRoom(t, 9, dp)
	if _, err := decideCloseRoom(priv, Command{Admin: true}, dp); code(err) != schemas.CodeBadRequest {
		t.Fatalf("close a private room: %v", err)
	}
	if _, err := decideCloseRoom(proposedRoom(t, 10, dp), Command{Admin: true}, dp); code(err) != schemas.CodeNotFound {
		t.Fatalf("close a proposal: %v", err)
	}
	d, err := decideCloseRoom(r, Command{Admin: true, Reason: "over"}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeRoomClosed}) || d.result.Room.Status != schemas.RoomStatusClosed {
		t.Fatalf("close: %v %v", err, types(d))
	}
	if d, err := decideCloseRoom(r, Command{Admin: true}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("close again: %v", err)
	}
	if d, err := decideJoin(r, Command{Kind: KindJoin, UserID: 1, Nickname: "a"}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("a member opens the closed room: %v", err)
	}
	if _, err := decideJoin(r, Command{Kind: KindJoin, UserID: 2, Nickname: "b"}, dp); code(err) != schemas.CodeRoomClosed {
		t.Fatalf("join a closed room: %v", err)
	}
	if _, err := decideSend(r, Command{Kind: KindSend, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m"}, dp); code(err) != schemas.CodeRoomClosed {
		t.Fatalf("send in a closed room: %v", err)
	}
	if d, err := decideLeave(r, Command{Kind: KindLeave, UserID: 1}, dp); err != nil || len(d.events) != 1 {
		t.Fatalf("a member leaves a closed room: %v", err)
	}
}

// TestKickEndsTopicMembershipInFold: a kick from a topic room ends the
// user's location there, so their next topic join elsewhere asks for no
// switch-leave, and one room at a time still holds after it.
func TestKickEndsTopicMembershipInFold(t *testing.T) {
	f := newFold(2)
	a := schemas.Envelope{ID: 10, RoomID: 100, Seq: 1, Payload: schemas.RoomCreated{Title: "a"}}
	join := schemas.Envelope{ID: 11, RoomID: 100, Seq: 2, UserID: 1, Payload: schemas.RoomJoined{Nickname: "u"}}
	kick := schemas.Envelope{ID: 12, RoomID: 100, Seq: 3, UserID: 1, Payload: schemas.MemberRemoved{Nickname: "u"}}
	if _, err := f.applyEvents(0, []schemas.Envelope{a, join, kick}); err != nil {
		t.Fatal(err)
	}
	if loc, _ := f.locate(1); loc.active {
		t.Fatalf("location %+v still active after the kick", loc)
	}
	if len(f.parts[0].room(100).members) != 0 {
		t.Fatal("the kicked user is still a member")
	}
	b := schemas.Envelope{ID: 20, RoomID: 200, Seq: 1, Payload: schemas.RoomCreated{Title: "b"}}
	joinB := schemas.Envelope{ID: 21, RoomID: 200, Seq: 2, UserID: 1, Payload: schemas.RoomJoined{Nickname: "u"}}
	sw, err := f.applyEvents(1, []schemas.Envelope{b, joinB})
	if err != nil || len(sw) != 0 {
		t.Fatalf("a join after a kick asked for switch-leaves %v (%v)", sw, err)
	}
	// Back in room 100 (not banned): that join ends the membership of 200.
	rejoin := schemas.Envelope{ID: 30, RoomID: 100, Seq: 4, UserID: 1, Payload: schemas.RoomJoined{Nickname: "u"}}
	sw, err = f.applyEvents(0, []schemas.Envelope{rejoin})
	if err != nil || len(sw) != 1 || sw[0].room != 200 {
		t.Fatalf("switches %v (%v): want room 200 left", sw, err)
	}
	// A ban ends it again.
	ban := schemas.Envelope{ID: 31, RoomID: 100, Seq: 5, UserID: 1, Payload: schemas.MemberBanned{Nickname: "u", Member: true}}
	if _, err := f.applyEvents(0, []schemas.Envelope{ban}); err != nil {
		t.Fatal(err)
	}
	if loc, _ := f.locate(1); loc.active || !f.parts[0].room(100).banned(1) {
		t.Fatalf("after the ban: %+v", loc)
	}
}

// TestModerationRefusals: the route-level refusals of kick, ban, unban and
// close, before any owner is asked (no servers: the service never runs).
func TestModerationRefusals(t *testing.T) {
	r, keys := newUnitRoutes(t, nil)
	user, _, err := keys.Issue(7, "seven")
	if err != nil {
		t.Fatal(err)
	}
	const room = "/v1/rooms/7267000000000000001"
	long := `"` + strings.Repeat("x", schemas.MaxModerationReason+1) + `"`
	cases := []struct {
		name, path, auth, body string
		status                 int
		message                string
	}{
		{"kick without user", room + "/kick", user, `{}`, 400, "user_id must be a decimal id"},
		{"kick user 0", room + "/kick", user, `{"user_id":"0"}`, 400, `field "user_id" must be a decimal id in a string, such as "7267000000000000001"`},
		{"kick a user id that is no id", room + "/kick", user, `{"user_id":"abc"}`, 400, `field "user_id" must be a decimal id in a string, such as "7267000000000000001"`},
		{"ban a negative id", room + "/ban", user, `{"user_id":"-8"}`, 400, `field "user_id" must be a decimal id in a string, such as "7267000000000000001"`},
		{"ban as a number", room + "/ban", user, `{"user_id":8}`, 400, `field "user_id" must be a decimal id in a string, such as "7267000000000000001"`},
		{"ban with a long reason", room + "/ban", user, `{"user_id":"8","reason":` + long + `}`, 400, "reason must be at most 500 characters without control characters"},
		{"ban with a control character", room + "/ban", user, `{"user_id":"8","reason":"a\u0007b"}`, 400, "reason must be at most 500 characters without control characters"},
		{"unban with a reason", room + "/unban", user, `{"user_id":"8","reason":"sorry"}`, 400, "reason: an unban takes no reason"},
		{"unban with a reason of control characters", room + "/unban", user, `{"user_id":"8","reason":"a\u0003b"}`, 400, "reason: an unban takes no reason"},
		{"kick unknown field", room + "/kick", user, `{"user_id":"8","why":"x"}`, 400, `unknown field "why"`},
		{"kick bad room id", "/v1/rooms/abc/kick", user, `{"user_id":"8"}`, 400, "room id must be a decimal id"},
		{"close by a user", room + "/close", user, `{}`, 403, "only an admin may close a room"},
		{"kick without a token", room + "/kick", "", `{"user_id":"8"}`, 401, "missing bearer token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			if c.auth != "" {
				req.Header.Set("Authorization", "Bearer "+c.auth)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var eb schemas.ErrorBody
			if err := schemas.StrictUnmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == nil {
				t.Fatalf("%d %s: not the envelope", w.Code, w.Body)
			}
			if w.Code != c.status || eb.Error.Message != c.message {
				t.Fatalf("%d %q, want %d %q", w.Code, eb.Error.Message, c.status, c.message)
			}
		})
	}
}

// TestModerationWaitsForLevel5: below feature level 5 every moderation is
// refused (503) and nothing is appended, as the level-4 events were.
func TestModerationWaitsForLevel5(t *testing.T) {
	dp := testDeps(5, users{})
	r := privateRoom(t, 7, dp)
	if _, err := decideAddMember(r, Command{UserID: 1, Peer: 2, PeerNickname: "b"}, dp); err != nil {
		t.Fatal(err)
	}
	topic := withMember(t, 8, dp)
	dp.checkEmit = func(ev schemas.Event) error {
		if err := schemas.Events.CheckEmitEvent(ev, 4); err != nil {
			return schemas.Errorf(schemas.CodeUnavailable, "needs a higher feature level")
		}
		return nil
	}
	for _, c := range []struct {
		r   *room
		cmd Command
	}{
		{r, Command{Kind: KindKick, UserID: 1, Nickname: "a", Peer: 2}},
		{r, Command{Kind: KindBan, UserID: 1, Nickname: "a", Peer: 2}},
		{topic, Command{Kind: KindCloseRoom, Admin: true}},
	} {
		seq := c.r.seq
		if d, _, err := decide(c.r.clone(), c.cmd, dp); code(err) != schemas.CodeUnavailable || len(d.events) != 0 {
			t.Errorf("%s at level 4: %v, %d events", c.cmd.Kind, err, len(d.events))
		}
		if c.r.seq != seq {
			t.Errorf("%s at level 4 moved the room", c.cmd.Kind)
		}
	}
}
