package realtime

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"happychat/internal/clientjson"
	"happychat/schemas"
)

func TestRenderEvent(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 21, 13, 123_000_000, time.UTC)
	base := schemas.Envelope{ID: 900, RoomID: 42, UserID: 7, Seq: 12, OccurredAt: at}
	with := func(typ string, p schemas.Event) schemas.Envelope {
		e := base
		e.Type, e.Payload = typ, p
		return e
	}
	tests := []struct {
		name       string
		env        schemas.Envelope
		want       string
		wantLeaver schemas.ID
	}{
		{"message softened with effects",
			with(schemas.TypeMessageSent, schemas.MessageSent{Text: "darn, congrats 🎉", ClientMsgID: "m1", Nickname: "toracle"}),
			`{"type":"message","message":{"id":"900","room_id":"42","user_id":"7","nickname":"toracle","body":"d**n, congrats 🎉","sent_at":"2026-11-22T21:21:13.123Z","client_msg_id":"m1","effects":["balloons"],"seq":12}}`, 0},
		{"message without effects renders []",
			with(schemas.TypeMessageSent, schemas.MessageSent{Text: "hi", ClientMsgID: "m2", Nickname: "n"}),
			`{"type":"message","message":{"id":"900","room_id":"42","user_id":"7","nickname":"n","body":"hi","sent_at":"2026-11-22T21:21:13.123Z","client_msg_id":"m2","effects":[],"seq":12}}`, 0},
		{"join",
			with(schemas.TypeRoomJoined, schemas.RoomJoined{Nickname: "ann"}),
			`{"type":"member_joined","room_id":"42","user_id":"7","nickname":"ann","seq":12,"at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"an added member is a join",
			with(schemas.TypeMemberAdded, schemas.MemberAdded{Nickname: "ann", By: 8}),
			`{"type":"member_joined","room_id":"42","user_id":"7","nickname":"ann","seq":12,"at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"an invite is only a seq",
			with(schemas.TypeInviteCreated, schemas.InviteCreated{CodeHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ExpiresAt: "2026-11-23T00:00:00.000Z", MaxUses: 2}),
			`{"type":"room_event","room_id":"42","seq":12,"event":"invite.created","at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"leave names the leaver",
			with(schemas.TypeRoomLeft, schemas.RoomLeft{Reason: schemas.LeftReasonSwitched, Nickname: "ann", SwitchedTo: 43}),
			`{"type":"member_left","room_id":"42","user_id":"7","nickname":"ann","seq":12,"at":"2026-11-22T21:21:13.123Z","reason":"switched"}`, 7},
		{"a kick is a leave naming who removed them",
			with(schemas.TypeMemberRemoved, schemas.MemberRemoved{Nickname: "ann", By: 8, ByNickname: "owner", Reason: "spam"}),
			`{"type":"member_left","room_id":"42","user_id":"7","nickname":"ann","seq":12,"at":"2026-11-22T21:21:13.123Z","reason":"removed","by":"8","by_nickname":"owner","note":"spam"}`, 7},
		{"a member's ban by an admin is a leave",
			with(schemas.TypeMemberBanned, schemas.MemberBanned{Nickname: "ann", Member: true}),
			`{"type":"member_left","room_id":"42","user_id":"7","nickname":"ann","seq":12,"at":"2026-11-22T21:21:13.123Z","reason":"banned"}`, 7},
		{"a ban of a non-member is only a seq",
			with(schemas.TypeMemberBanned, schemas.MemberBanned{}),
			`{"type":"room_event","room_id":"42","seq":12,"event":"member.banned","at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"a close is a room event",
			with(schemas.TypeRoomClosed, schemas.RoomClosed{Reason: "over"}),
			`{"type":"room_event","room_id":"42","seq":12,"event":"room.closed","at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"a rename is not a leave",
			with(schemas.TypeMemberRenamed, schemas.MemberRenamed{Nickname: "구름이", Previous: "ann"}),
			`{"type":"member_renamed","room_id":"42","user_id":"7","nickname":"구름이","previous":"ann","seq":12,"at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"other room events keep the seq count",
			with(schemas.TypeRoomApproved, schemas.RoomApproved{}),
			`{"type":"room_event","room_id":"42","seq":12,"event":"room.approved","at":"2026-11-22T21:21:13.123Z"}`, 0},
		{"reply with mentions",
			with(schemas.TypeMessageSent, schemas.MessageSent{Text: "yes", ClientMsgID: "m3", Nickname: "n",
				ReplyTo: &schemas.ReplyTo{MessageID: 800, UserID: 8, Nickname: "o", Preview: "who?"}, Mentions: []schemas.ID{8}}),
			`{"type":"message","message":{"id":"900","room_id":"42","user_id":"7","nickname":"n","body":"yes","sent_at":"2026-11-22T21:21:13.123Z","client_msg_id":"m3","effects":[],"seq":12,"reply_to":{"message_id":"800","user_id":"8","nickname":"o","preview":"who?"},"mentions":["8"]}}`, 0},
		{"edit softened with its effects",
			with(schemas.TypeMessageEdited, schemas.MessageEdited{MessageID: 800, Text: "darn, congrats"}),
			`{"type":"message_edited","room_id":"42","message_id":"800","user_id":"7","body":"d**n, congrats","effects":["balloons"],"edited_at":"2026-11-22T21:21:13.123Z","seq":12}`, 0},
		{"delete",
			with(schemas.TypeMessageDeleted, schemas.MessageDeleted{MessageID: 800, AuthorID: 8, Nickname: "o", MessageSeq: 3, SentAt: "2026-11-22T21:00:00.000Z"}),
			`{"type":"message_deleted","room_id":"42","message_id":"800","user_id":"7","seq":12}`, 0},
		{"reaction added names the member",
			with(schemas.TypeMessageReactionAdded, schemas.ReactionAdded{MessageID: 800, Emoji: "👍"}),
			`{"type":"reaction","room_id":"42","message_id":"800","user_id":"7","emoji":"👍","op":"added","seq":12}`, 0},
		{"reaction removed",
			with(schemas.TypeMessageReactionRemoved, schemas.ReactionRemoved{MessageID: 800, Emoji: "👍"}),
			`{"type":"reaction","room_id":"42","message_id":"800","user_id":"7","emoji":"👍","op":"removed","seq":12}`, 0},
		{"a read mark names the reader and the message",
			with(schemas.TypeReadMarkMoved, schemas.ReadMarkMoved{UpTo: 800}),
			`{"type":"read_mark","room_id":"42","user_id":"7","up_to":"800","seq":12}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := renderEvent(tt.env, testRules{})
			if err != nil {
				t.Fatal(err)
			}
			if string(f.data) != tt.want {
				t.Fatalf("got  %s\nwant %s", f.data, tt.want)
			}
			if f.seq != 12 || len(f.wire) != len(f.data)+wireHeaderLen(len(f.data)) || f.leaver != tt.wantLeaver || !f.at.Equal(at) {
				t.Fatalf("frame fields: seq %d wire %d data %d leaver %d at %v", f.seq, len(f.wire), len(f.data), f.leaver, f.at)
			}
		})
	}
}

func TestParseClientFrame(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantType string
		wantID   string
		wantErr  bool
	}{
		{"send", `{"type":"send","body":"hi 👋","client_msg_id":"a"}`, typeSend, "a", false},
		{"ping", `{"type":"ping"}`, typePing, "", false},
		{"ping with extra members", `{"type":"ping","x":1}`, typePing, "", false},
		{"not JSON", `hello`, "", "", true},
		{"truncated", `{"type":"send"`, "", "", true},
		{"array", `[1,2]`, "", "", true},
		{"no type", `{"body":"x"}`, "", "", true},
		{"no type keeps the id", `{"body":"x","client_msg_id":"u0"}`, "", "u0", true},
		{"unknown type keeps the id", `{"type":"subscribe","client_msg_id":"z"}`, "", "z", true},
		{"send without id", `{"type":"send","body":"x"}`, "", "", true},
		{"send with unknown member keeps the id", `{"type":"send","body":"x","client_msg_id":"q","extra":true}`, "", "q", true},
		{"send with a number body", `{"type":"send","body":5,"client_msg_id":"q"}`, "", "q", true},
		{"duplicate member", `{"type":"send","type":"send","body":"x","client_msg_id":"q"}`, "", "", true},
		{"wrong-typed id", `{"type":"send","client_msg_id":7}`, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseClientFrame([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && err.Code != schemas.CodeBadRequest {
				t.Fatalf("code %s", err.Code)
			}
			if err != nil && clientjson.NamesGoInternals(err.Message) {
				t.Fatalf("the message names Go internals: %s", err.Message)
			}
			if want, ok := frameWords[tt.name]; ok && (err == nil || err.Message != want) {
				t.Fatalf("message %v, want %q", err, want)
			}
			if !tt.wantErr && f.Type != tt.wantType {
				t.Fatalf("type %q want %q", f.Type, tt.wantType)
			}
			if f.ClientMsgID != tt.wantID {
				t.Fatalf("client_msg_id %q want %q", f.ClientMsgID, tt.wantID)
			}
		})
	}
}

// frameWords are the messages a client author reads for some refusals of
// TestParseClientFrame: the field and the rule in plain words.
var frameWords = map[string]string{
	"send with unknown member keeps the id": `unknown field "extra"`,
	"send with a number body":               `field "body" must be a string`,
	"duplicate member":                      `duplicate field "type"`,
	"wrong-typed id":                        `field "client_msg_id" must be a string`,
	"array":                                 `the frame must be a JSON object`,
	"truncated":                             `the frame ends before its JSON value does`,
}

func TestErrorFrame(t *testing.T) {
	got := string(errFrame("", schemas.Errorf(schemas.CodeBadRequest, "x")).data)
	if want := `{"type":"error","error":{"code":"bad_request","message":"x"}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	got = string(errFrame("id1", schemas.Errorf(schemas.CodeForbidden, "no")).data)
	if want := `{"type":"error","client_msg_id":"id1","error":{"code":"forbidden","message":"no"}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	// An invalid UTF-8 message from elsewhere must not break the frame.
	got = string(errFrame("", schemas.Errorf(schemas.CodeInternal, "\xff")).data)
	if got == "" {
		t.Fatal("empty frame")
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		origin  string
		allowed []string
		want    bool
	}{
		{"no origin: not a browser", "chat.example", "", nil, true},
		{"same origin", "chat.example:8080", "http://chat.example:8080", nil, true},
		{"same origin, case", "Chat.Example", "https://chat.example", nil, true},
		{"other origin", "chat.example", "https://evil.example", nil, false},
		{"other port", "chat.example:8080", "http://chat.example:9090", nil, false},
		{"null origin", "chat.example", "null", nil, false},
		{"allowlisted", "api.example", "https://chat.example", []string{"https://chat.example"}, true},
		{"allowlist with trailing slash", "api.example", "https://chat.example", []string{"https://chat.example/"}, true},
		{"allowlist is exact, not a suffix", "api.example", "https://evilchat.example", []string{"https://chat.example"}, false},
		{"allowlist is exact on scheme", "api.example", "http://chat.example", []string{"https://chat.example"}, false},
		{"allowlist replaces same origin", "api.example", "https://api.example", []string{"https://chat.example"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://"+tt.host+"/v1/ws", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := originAllowed(r, tt.allowed); got != tt.want {
				t.Fatalf("originAllowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	tests := []struct {
		query   string
		want    int64
		has     bool
		wantErr bool
	}{
		{"", 0, false, false},
		{"since_seq=0", 0, true, false},
		{"since_seq=41", 41, true, false},
		{"since_seq=", 0, false, true},
		{"since_seq=-1", 0, false, true},
		{"since_seq=+4", 0, false, true},
		{"since_seq=04", 0, false, true},
		{"since_seq=4x", 0, false, true},
		{"since_seq=99999999999999999999", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, has, err := parseSince(q)
			if (err != nil) != tt.wantErr || got != tt.want || has != tt.has {
				t.Fatalf("parseSince(%q) = %d %v %v", tt.query, got, has, err)
			}
		})
	}
}

func TestUsersAdmit(t *testing.T) {
	cfg := Config{MaxConnsPerUser: 2, UserConnectRate: 1, UserConnectBurst: 3, UserSendRate: 1, UserSendBurst: 1}
	u := newUsers(&cfg)
	now := time.Now()
	steps := []struct {
		name  string
		leave bool
		want  schemas.Code // "" = admitted
	}{
		{"first", false, ""},
		{"second", false, ""},
		{"cap reached", false, schemas.CodeRateLimited},
		{"one leaves: the third token", true, ""},
		{"connect rate exhausted", true, schemas.CodeRateLimited},
	}
	for _, st := range steps {
		if st.leave {
			u.leave(7, now)
		}
		_, err := u.admit(7, now)
		var got schemas.Code
		if err != nil {
			got = err.Code
		}
		if got != st.want {
			t.Fatalf("%s: got %q want %q", st.name, got, st.want)
		}
	}
}

// TestRingSwapsADeletedMessage: once a delete is dispatched, the room's ring
// holds the message's tombstone, never its text.
func TestRingSwapsADeletedMessage(t *testing.T) {
	h := testHub(t, 8)
	const room = schemas.ID(42)
	h.acquire(room)
	at := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	h.dispatch(schemas.Envelope{ID: 900, RoomID: room, UserID: 7, Seq: 1, OccurredAt: at, Type: schemas.TypeMessageSent,
		Payload: schemas.MessageSent{Text: "a secret", ClientMsgID: "m1", Nickname: "n"}})
	h.dispatch(schemas.Envelope{ID: 901, RoomID: room, UserID: 7, Seq: 2, OccurredAt: at, Type: schemas.TypeMessageDeleted,
		Payload: schemas.MessageDeleted{MessageID: 900, AuthorID: 7, Nickname: "n", MessageSeq: 1, SentAt: schemas.FormatTime(at)}})
	h.mu.Lock()
	frames, ok := h.rooms[room].ring.after(0)
	h.mu.Unlock()
	if !ok || len(frames) != 2 {
		t.Fatalf("ring holds %d frames (%v)", len(frames), ok)
	}
	if strings.Contains(string(frames[0].data), "secret") || !strings.Contains(string(frames[0].data), `"deleted":true`) || frames[0].seq != 1 {
		t.Fatalf("the ring still serves %s", frames[0].data)
	}
	if !strings.Contains(string(frames[1].data), `"type":"message_deleted"`) {
		t.Fatalf("then %s", frames[1].data)
	}
}
