package command

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// Unit tests of the level-4 use cases: private rooms, invites, direct
// messages, and the rule that only topic rooms count toward one room at a
// time.

// privateRoom returns a private room created by user 1 ("a").
func privateRoom(t *testing.T, id schemas.ID, dp deps) *room {
	t.Helper()
	d, r, err := decideCreatePrivate(nil, Command{Kind: KindCreatePrivate, RoomID: id, UserID: 1, Nickname: "a", Title: "friends"}, dp)
	if err != nil {
		t.Fatal(err)
	}
	if got := types(d); !slices.Equal(got, []string{schemas.TypeConversationCreated, schemas.TypeMemberAdded}) {
		t.Fatalf("create private appended %v", got)
	}
	if r.kind != schemas.RoomKindPrivate || len(r.members) != 1 || d.result.Room.Kind != schemas.RoomKindPrivate {
		t.Fatalf("room %+v", r)
	}
	return r
}

// inviteTo makes an invite of user 1 with the given uses and expiry.
func inviteTo(t *testing.T, r *room, dp deps, hash string, uses int, expires time.Time) schemas.ID {
	t.Helper()
	d, err := decideInvite(r, Command{Kind: KindInvite, UserID: 1, CodeHash: hash, MaxUses: uses, ExpiresAt: expires}, dp)
	if err != nil {
		t.Fatal(err)
	}
	return d.result.Invite
}

func TestDecideInvites(t *testing.T) {
	dp := testDeps(3, users{})
	r := privateRoom(t, 7, dp)
	h1, h2, h3 := inviteHash("one"), inviteHash("two"), inviteHash("old")
	inv := inviteTo(t, r, dp, h1, 1, dp.now.Add(time.Hour))
	inviteTo(t, r, dp, h2, 5, dp.now.Add(time.Hour))
	inviteTo(t, r, dp, h3, 5, dp.now.Add(time.Minute))
	later := dp
	later.now = dp.now.Add(time.Minute) // h3 expires then

	accept := func(user schemas.ID, hash string) (decision, error) {
		return decideAcceptInvite(r, Command{Kind: KindAcceptInvite, UserID: user, Nickname: "u", CodeHash: hash}, dp)
	}
	d, err := accept(2, h1)
	if err != nil || len(d.events) != 1 || d.events[0].Payload.(schemas.MemberAdded).Invite != inv {
		t.Fatalf("accept: %v %+v", err, d.events)
	}
	if d, err := accept(2, h1); err != nil || len(d.events) != 0 {
		t.Fatalf("a member accepting again: %v %v", err, types(d))
	}
	cases := []struct {
		name string
		user schemas.ID
		hash string
		want schemas.Code
	}{
		{"used up", 3, h1, schemas.CodeConflict},
		{"expired", 3, h3, schemas.CodeNotFound},
		{"unknown", 3, inviteHash("nope"), schemas.CodeNotFound},
	}
	for _, c := range cases {
		dpc := dp
		if c.hash == h3 {
			dpc = later
		}
		if _, err := decideAcceptInvite(r, Command{UserID: c.user, Nickname: "u", CodeHash: c.hash}, dpc); code(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if _, err := accept(3, h2); err != nil {
		t.Fatal(err)
	}
	// Three members of a capacity of three: the next accept is refused
	// although the invite has uses left.
	if _, err := accept(4, h2); code(err) != schemas.CodeRoomFull {
		t.Fatalf("over capacity: %v", err)
	}
	if r.invites[inv].uses != 1 {
		t.Fatalf("uses %d", r.invites[inv].uses)
	}
	// Only members invite; topics take none.
	if _, err := decideInvite(r, Command{UserID: 9, CodeHash: h1, MaxUses: 1, ExpiresAt: dp.now.Add(time.Hour)}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("stranger invites: %v", err)
	}
	topic := withMember(t, 8, dp)
	if _, err := decideInvite(topic, Command{UserID: 1, CodeHash: h1, MaxUses: 1, ExpiresAt: dp.now.Add(time.Hour)}, dp); code(err) != schemas.CodeBadRequest {
		t.Fatalf("invite to a topic: %v", err)
	}
	// And no one joins a private room.
	if _, err := decideJoin(r, Command{Kind: KindJoin, UserID: 9, Nickname: "x"}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("join a private room: %v", err)
	}
}

func TestDecideAddMember(t *testing.T) {
	dp := testDeps(2, users{})
	r := privateRoom(t, 7, dp)
	if _, err := decideAddMember(r, Command{UserID: 9, Peer: 2, PeerNickname: "b"}, dp); code(err) != schemas.CodeForbidden {
		t.Fatalf("a stranger adds: %v", err)
	}
	d, err := decideAddMember(r, Command{UserID: 1, Peer: 2, PeerNickname: "b"}, dp)
	if err != nil || len(d.events) != 1 || d.events[0].UserID != 2 || d.events[0].Payload.(schemas.MemberAdded).By != 1 {
		t.Fatalf("add: %v %+v", err, d.events)
	}
	if d, err := decideAddMember(r, Command{UserID: 1, Peer: 2, PeerNickname: "b"}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("add a member again: %v %v", err, types(d))
	}
	if _, err := decideAddMember(r, Command{UserID: 2, Peer: 3, PeerNickname: "c"}, dp); code(err) != schemas.CodeRoomFull {
		t.Fatalf("over capacity: %v", err)
	}
}

func TestDecideCreateDirect(t *testing.T) {
	dp := testDeps(20, users{})
	id := schemas.DirectRoomID(1, 2)
	if id != schemas.DirectRoomID(2, 1) {
		t.Fatal("the pair's id depends on its order")
	}
	d, r, err := decideCreateDirect(nil, Command{RoomID: id, UserID: 1, Nickname: "a", Peer: 2, PeerNickname: "b"}, dp)
	want := []string{schemas.TypeConversationCreated, schemas.TypeMemberAdded, schemas.TypeMemberAdded}
	if err != nil || !slices.Equal(types(d), want) || !d.result.Created {
		t.Fatalf("create: %v %v", err, types(d))
	}
	for _, e := range d.events {
		if _, err := schemas.Events.Encode(e); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
	}
	// The other side, decided next by the same owner: the same room.
	d, nr, err := decideCreateDirect(r, Command{RoomID: id, UserID: 2, Nickname: "b", Peer: 1, PeerNickname: "a"}, dp)
	if err != nil || len(d.events) != 0 || nr != nil || d.result.Created || d.result.Room.ID != id {
		t.Fatalf("the other side: %v %v", err, types(d))
	}
	// A member who left comes back in.
	if _, err := decideLeave(r, Command{UserID: 2}, dp); err != nil {
		t.Fatal(err)
	}
	d, _, err = decideCreateDirect(r, Command{RoomID: id, UserID: 1, Nickname: "a", Peer: 2, PeerNickname: "b"}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeMemberAdded}) || d.events[0].UserID != 2 {
		t.Fatalf("reopen: %v %v", err, types(d))
	}
	// A room of that id that is not this pair's.
	other := privateRoom(t, id, dp)
	if _, _, err := decideCreateDirect(other, Command{RoomID: id, UserID: 1, Peer: 2, PeerNickname: "b"}, dp); code(err) != schemas.CodeConflict {
		t.Fatalf("taken id: %v", err)
	}
}

// TestPrivateRoomsDoNotCountTowardOneRoom: membership of private rooms and
// direct messages leaves the user fold alone, a later topic join does not
// end them, and their members still post.
func TestPrivateRoomsDoNotCountTowardOneRoom(t *testing.T) {
	f := newFold(2)
	topic := schemas.Envelope{ID: 10, RoomID: 100, Seq: 1, Payload: schemas.RoomCreated{Title: "t"}}
	join := schemas.Envelope{ID: 11, RoomID: 100, Seq: 2, UserID: 1, Payload: schemas.RoomJoined{Nickname: "a"}}
	priv := schemas.Envelope{ID: 12, RoomID: 201, Seq: 1, UserID: 1, Payload: schemas.ConversationCreated{Kind: schemas.RoomKindPrivate, Title: "p"}}
	added := schemas.Envelope{ID: 13, RoomID: 201, Seq: 2, UserID: 1, Payload: schemas.MemberAdded{Nickname: "a"}}
	sw, err := f.applyEvents(0, []schemas.Envelope{topic, join})
	if err != nil || len(sw) != 0 {
		t.Fatal(err, sw)
	}
	if sw, err = f.applyEvents(1, []schemas.Envelope{priv, added}); err != nil || len(sw) != 0 {
		t.Fatalf("a private membership asked for switch-leaves %v (%v)", sw, err)
	}
	if loc, _ := f.locate(1); loc.room != 100 || !loc.active {
		t.Fatalf("location %+v: the private room moved the user", loc)
	}
	// A later topic join elsewhere does not supersede the private membership.
	topic2 := schemas.Envelope{ID: 20, RoomID: 300, Seq: 1, Payload: schemas.RoomCreated{Title: "t2"}}
	join2 := schemas.Envelope{ID: 21, RoomID: 300, Seq: 2, UserID: 1, Payload: schemas.RoomJoined{Nickname: "a"}}
	sw, err = f.applyEvents(0, []schemas.Envelope{topic2, join2})
	if err != nil || len(sw) != 1 || sw[0].room != 100 {
		t.Fatalf("switches %v (%v): want only the topic room left", sw, err)
	}
	dp := testDeps(20, users{})
	dp.locate = f.locate
	pr := f.parts[1].room(201)
	if _, ok := pr.current(1, dp); !ok {
		t.Fatal("the private membership ended with a topic join")
	}
	if _, ok := f.parts[0].room(100).current(1, dp); ok {
		t.Fatal("the earlier topic membership is still current")
	}
	d, err := decideSend(pr.clone(), Command{Kind: KindSend, UserID: 1, Nickname: "a", Body: "hi", ClientMsgID: "m"}, dp)
	if err != nil || len(d.events) != 1 {
		t.Fatalf("send in the private room: %v", err)
	}
}

func TestInviteCodeAndShareCode(t *testing.T) {
	room, secret, err := parseInviteCode("123.AAAAAAAAAAAAAAAAAAAAAA")
	if err != nil || room != 123 || secret != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatalf("parse: %v %d %q", err, room, secret)
	}
	for _, bad := range []string{"", "123", "123.", "x.AAAAAAAAAAAAAAAAAAAAAA", "123.AAAA", "0.AAAAAAAAAAAAAAAAAAAAAA", "123.AAAAAAAAAAAAAAAAAAAAA*"} {
		if _, _, err := parseInviteCode(bad); code(err) != schemas.CodeBadRequest {
			t.Errorf("%q: %v", bad, err)
		}
	}
	s := &Service{cfg: Config{InternalSecret: "0123456789abcdef-now", PreviousInternalSecrets: []string{"0123456789abcdef-old"}}}
	c, err := s.ShareCode(Caller{UserID: 42, Nickname: "하늘 ☁️"})
	if err != nil {
		t.Fatal(err)
	}
	u, n, err := s.readShareCode(c)
	if err != nil || u != 42 || n != "하늘 ☁️" {
		t.Fatalf("read: %v %d %q", err, u, n)
	}
	old := &Service{cfg: Config{InternalSecret: "0123456789abcdef-old"}}
	oc, _ := old.ShareCode(Caller{UserID: 42, Nickname: "x"})
	if _, _, err := s.readShareCode(oc); err != nil {
		t.Fatalf("a code from before the rotation: %v", err)
	}
	forged := c[:len(c)-2] + "AA"
	other := &Service{cfg: Config{InternalSecret: "someone else's secret"}}
	fc, _ := other.ShareCode(Caller{UserID: 42, Nickname: "x"})
	for _, bad := range []string{"", "x", forged, fc, c + "."} {
		if _, _, err := s.readShareCode(bad); code(err) != schemas.CodeBadRequest {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestDecideRefusesForgedArguments: what a forwarded command states is
// checked again by its owner.
func TestDecideRefusesForgedArguments(t *testing.T) {
	dp := testDeps(20, users{})
	if _, _, err := decideCreateDirect(nil, Command{RoomID: 99, UserID: 1, Nickname: "a", Peer: 2, PeerNickname: "b"}, dp); code(err) != schemas.CodeBadRequest {
		t.Fatalf("a direct room off its pair's id: %v", err)
	}
	if _, _, err := decideCreateDirect(nil, Command{RoomID: schemas.DirectRoomID(1, 1), UserID: 1, Peer: 1, PeerNickname: "a"}, dp); code(err) != schemas.CodeBadRequest {
		t.Fatalf("a direct room with oneself: %v", err)
	}
	r := privateRoom(t, 7, dp)
	for _, c := range []Command{
		{UserID: 1, CodeHash: inviteHash("x"), MaxUses: 0, ExpiresAt: dp.now.Add(time.Hour)},
		{UserID: 1, CodeHash: inviteHash("x"), MaxUses: 5000, ExpiresAt: dp.now.Add(time.Hour)},
		{UserID: 1, CodeHash: inviteHash("x"), MaxUses: 1, ExpiresAt: dp.now.Add(365 * 24 * time.Hour)},
		{UserID: 1, CodeHash: inviteHash("x"), MaxUses: 1, ExpiresAt: dp.now},
		{UserID: 1, CodeHash: "short", MaxUses: 1, ExpiresAt: dp.now.Add(time.Hour)},
	} {
		if _, err := decideInvite(r, c, dp); code(err) != schemas.CodeBadRequest {
			t.Errorf("invite %+v: %v", c, err)
		}
	}
}

// TestPrivateRoomRefusals: the checks of POST /v1/rooms with a visibility
// and of the level-4 routes that come before any decision (no servers).
func TestPrivateRoomRefusals(t *testing.T) {
	r, keys := newUnitRoutes(t, nil)
	user, _, err := keys.Issue(7, "seven")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path, auth, body string
		status                         int
		message                        string
	}{
		{"bad visibility", "POST", "/v1/rooms", user, `{"title":"t","visibility":"secret"}`, 400, `visibility must be "public" or "private"`},
		{"admin private room", "POST", "/v1/rooms", testAdmin, `{"title":"t","visibility":"private"}`, 403, "this needs a user session, not the admin token"},
		{"bad invite code", "POST", "/v1/invites/nonsense/accept", user, ``, 400, "code must be an invite code: a room id, a dot and 22 letters, digits, - or _"},
		{"dm with oneself by share code or id both", "POST", "/v1/dms", user, `{"user_id":"8","share_code":"x"}`, 400, "send exactly one of user_id and share_code"},
		{"dm with neither", "POST", "/v1/dms", user, `{}`, 400, "send exactly one of user_id and share_code"},
		{"forged share code", "POST", "/v1/dms", user, `{"share_code":"AAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA"}`, 400, "share_code is not a share code of this service"},
		{"invite uses", "POST", "/v1/rooms/7267000000000000001/invites", user, `{"max_uses":1001}`, 400, "max_uses must be 1..1000"},
		{"invite expiry", "POST", "/v1/rooms/7267000000000000001/invites", user, `{"expires_in_seconds":59}`, 400, "expires_in_seconds must be 60..2592000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+c.auth)
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
