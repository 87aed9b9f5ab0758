package schemas

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// strictBase is a valid message.sent record the cases below mutate.
const strictBase = `{"id":"1995793265136041984","type":"message.sent","version":1,` +
	`"room_id":"1995793265127653376","user_id":"1995793265123459072","seq":3,` +
	`"occurred_at":"2026-11-22T21:21:13.123Z",` +
	`"payload":{"text":"hi","client_msg_id":"c1","nickname":"n"}}`

const userBase = `{"id":"1995793265123459072","type":"user.registered","version":1,` +
	`"user_id":"1995793265123459072","occurred_at":"2026-11-22T21:21:13.123Z",` +
	`"payload":{"nickname":"n"}}`

const leftBase = `{"id":"1995793265131847680","type":"room.left","version":1,` +
	`"room_id":"1995793265127653376","user_id":"1995793265123459072","seq":4,` +
	`"occurred_at":"2026-11-22T21:21:13.123Z",` +
	`"payload":{"reason":"left","nickname":"n"}}`

func TestDecodeStrictAcceptsBase(t *testing.T) {
	for _, in := range []string{strictBase, userBase, leftBase, " \n" + strictBase + "\n\t "} {
		if _, err := Events.Decode([]byte(in)); err != nil {
			t.Errorf("Decode(%s): %v", in, err)
		}
	}
}

func TestDecodeStrictRejects(t *testing.T) {
	mut := func(base, old, new string) string {
		t.Helper()
		if !strings.Contains(base, old) {
			t.Fatalf("base lacks %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	payload := `"payload":{"text":"hi","client_msg_id":"c1","nickname":"n"}`
	cases := []struct {
		name string
		in   string
		want string // a fragment of the error message, for a clear reason
		is   error  // an additional sentinel the error must wrap, if any
	}{
		{"empty input", "", "EOF", nil},
		{"whitespace only", "  \n", "EOF", nil},
		{"JSON null", "null", "unknown event type", ErrUnknownType},
		{"JSON array", "[]", "array", nil},
		{"JSON string", `"message.sent"`, "string", nil},
		{"unknown envelope field", mut(strictBase, `"seq":3`, `"seq":3,"sequence":3`), `unknown object member name "sequence"`, nil},
		{"unknown payload field", mut(strictBase, `"nickname":"n"`, `"nickname":"n","mood":"happy"`), `unknown object member name "mood"`, nil},
		{"duplicate envelope key", mut(strictBase, `"seq":3`, `"seq":3,"seq":4`), "duplicate", nil},
		{"duplicate payload key", mut(strictBase, `"text":"hi"`, `"text":"hi","text":"bye"`), "duplicate", nil},
		{"case variant Type", mut(strictBase, `"type"`, `"Type"`), `"Type"`, nil},
		{"case variant TEXT", mut(strictBase, `"text"`, `"TEXT"`), `"TEXT"`, nil},
		{"case variant ID", mut(strictBase, `"id"`, `"ID"`), `"ID"`, nil},
		{"seq as string", mut(strictBase, `"seq":3`, `"seq":"3"`), "seq", nil},
		{"seq as float", mut(strictBase, `"seq":3`, `"seq":3.0`), "seq", nil},
		{"seq as exponent", mut(strictBase, `"seq":3`, `"seq":3e0`), "seq", nil},
		{"seq overflow", mut(strictBase, `"seq":3`, `"seq":9223372036854775808`), "seq", nil},
		{"version as string", mut(strictBase, `"version":1`, `"version":"1"`), "version", nil},
		{"id as JSON number", mut(strictBase, `"id":"1995793265136041984"`, `"id":1`), "id", ErrBadID},
		{"id above 2^53 as number", mut(strictBase, `"id":"1995793265136041984"`, `"id":1995793265136041984`), "id", ErrBadID},
		{"id negative", mut(strictBase, `"id":"1995793265136041984"`, `"id":"-1"`), "id", ErrBadID},
		{"id zero", mut(strictBase, `"id":"1995793265136041984"`, `"id":"0"`), "id", ErrBadID},
		{"id leading zero", mut(strictBase, `"id":"1995793265136041984"`, `"id":"01"`), "id", ErrBadID},
		{"id leading space", mut(strictBase, `"id":"1995793265136041984"`, `"id":" 1"`), "id", ErrBadID},
		{"id hex", mut(strictBase, `"id":"1995793265136041984"`, `"id":"0x1f"`), "id", ErrBadID},
		{"id overflow", mut(strictBase, `"id":"1995793265136041984"`, `"id":"9223372036854775808"`), "id", ErrBadID},
		{"id null", mut(strictBase, `"id":"1995793265136041984"`, `"id":null`), "id is required", nil},
		{"id missing", mut(strictBase, `"id":"1995793265136041984",`, ``), "id is required", nil},
		{"room_id as number", mut(strictBase, `"room_id":"1995793265127653376"`, `"room_id":1995793265127653376`), "room_id", ErrBadID},
		{"trailing data", strictBase + `{}`, "after top-level value", nil},
		{"trailing garbage", strictBase + `x`, "after top-level value", nil},
		{"two values", strictBase + " " + strictBase, "after top-level value", nil},
		{"invalid UTF-8 in text", mut(strictBase, `"text":"hi"`, "\"text\":\"h\xffi\""), "UTF-8", nil},
		{"invalid UTF-8 in key", mut(strictBase, `"seq":3`, "\"s\xffq\":3"), "UTF-8", nil},
		{"lone surrogate escape", mut(strictBase, `"text":"hi"`, `"text":"h\ud800i"`), "surrogate", nil},
		{"raw NUL in text", mut(strictBase, `"text":"hi"`, "\"text\":\"h\x00i\""), "control character", nil},
		{"escaped NUL in text", mut(strictBase, `"text":"hi"`, `"text":"h\u0000i"`), "U+0000", nil},
		{"escaped NUL in correlation_id", mut(strictBase, `"seq":3`, `"seq":3,"correlation_id":"a\u0000"`), "U+0000", nil},
		{"byte order mark", "\ufeff" + strictBase, "invalid character", nil},
		{"deep nesting", mut(strictBase, `"text":"hi"`, `"text":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), "depth", nil},
		{"deep nesting in unknown member", mut(strictBase, `"seq":3`, `"seq":3,"x":`+strings.Repeat("[", 12000)+strings.Repeat("]", 12000)), "", nil},
		{"oversized", mut(strictBase, `"text":"hi"`, `"text":"`+strings.Repeat("a", MaxEventSize)+`"`), "exceeds", nil},
		{"text as number", mut(strictBase, `"text":"hi"`, `"text":42`), "text", nil},
		{"text null means empty", mut(strictBase, `"text":"hi"`, `"text":null`), "text must not be empty", nil},
		{"empty text", mut(strictBase, `"text":"hi"`, `"text":""`), "text must not be empty", nil},
		{"empty client_msg_id", mut(strictBase, `"client_msg_id":"c1"`, `"client_msg_id":""`), "client_msg_id", nil},
		{"unknown type", mut(strictBase, `"type":"message.sent"`, `"type":"message.pinned"`), "message.pinned", ErrUnknownType},
		{"type case variant value", mut(strictBase, `"type":"message.sent"`, `"type":"Message.Sent"`), "Message.Sent", ErrUnknownType},
		{"type missing", mut(strictBase, `"type":"message.sent",`, ``), "unknown event type", ErrUnknownType},
		{"version 0", mut(strictBase, `"version":1`, `"version":0`), "v0", ErrUnknownVersion},
		{"version 4", mut(strictBase, `"version":1`, `"version":4`), "v4", ErrUnknownVersion},
		{"version negative", mut(strictBase, `"version":1`, `"version":-1`), "v-1", ErrUnknownVersion},
		{"version missing", mut(strictBase, `"version":1,`, ``), "v0", ErrUnknownVersion},
		{"payload missing", mut(strictBase, ","+payload, ``), "payload must be an object", nil},
		{"payload null", mut(strictBase, payload, `"payload":null`), "payload must be an object", nil},
		{"payload array", mut(strictBase, payload, `"payload":[]`), "payload must be an object", nil},
		{"payload string", mut(strictBase, payload, `"payload":"{}"`), "payload must be an object", nil},
		{"missing room_id on room event", mut(strictBase, `"room_id":"1995793265127653376",`, ``), "room_id is required", nil},
		{"missing seq on room event", mut(strictBase, `"seq":3,`, ``), "seq must be positive", nil},
		{"zero seq on room event", mut(strictBase, `"seq":3`, `"seq":0`), "seq must be positive", nil},
		{"negative seq on room event", mut(strictBase, `"seq":3`, `"seq":-3`), "seq must be positive", nil},
		{"missing user_id on message", mut(strictBase, `"user_id":"1995793265123459072",`, ``), "user_id is required", nil},
		{"seq on user event", mut(userBase, `"occurred_at"`, `"seq":1,"occurred_at"`), "seq must be absent", nil},
		{"room_id on user.registered", mut(userBase, `"occurred_at"`, `"room_id":"5","occurred_at"`), "room_id must be absent", nil},
		{"missing user_id on user event", mut(userBase, `"user_id":"1995793265123459072",`, ``), "user_id is required", nil},
		{"empty nickname on user.registered", mut(userBase, `"nickname":"n"`, `"nickname":""`), "nickname", nil},
		{"bad left reason", mut(leftBase, `"reason":"left"`, `"reason":"kicked"`), `reason "kicked"`, nil},
		{"left reason case variant", mut(leftBase, `"reason":"left"`, `"reason":"LEFT"`), `reason "LEFT"`, nil},
		{"switched without switched_to", mut(leftBase, `"reason":"left"`, `"reason":"switched"`), "switched_to is required", nil},
		{"missing occurred_at", mut(strictBase, `"occurred_at":"2026-11-22T21:21:13.123Z",`, ``), "occurred_at", nil},
		{"occurred_at not RFC 3339", mut(strictBase, `2026-11-22T21:21:13.123Z`, `22/11/2026`), "occurred_at", nil},
		{"occurred_at lowercase t", mut(strictBase, `2026-11-22T21:21:13.123Z`, `2026-11-22t21:21:13.123z`), "occurred_at", nil},
		{"occurred_at as number", mut(strictBase, `"2026-11-22T21:21:13.123Z"`, `1795000000000`), "occurred_at", nil},
		{"occurred_at zero time", mut(strictBase, `2026-11-22T21:21:13.123Z`, `0001-01-01T00:00:00Z`), "occurred_at is required", nil},
		{"occurred_at year 0 with offset", mut(strictBase, `2026-11-22T21:21:13.123Z`, `0000-01-01T00:00:00+01:00`), "out of range", nil},
		{"occurred_at year 9999 with offset", mut(strictBase, `2026-11-22T21:21:13.123Z`, `9999-12-31T23:59:59-01:00`), "out of range", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := Events.Decode([]byte(c.in))
			if err == nil {
				t.Fatalf("Decode accepted it: %+v", env)
			}
			if !errors.Is(err, ErrDecode) {
				t.Errorf("error %v does not wrap ErrDecode", err)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not wrap %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error message is %d bytes long; it should stay readable in a log line", len(err.Error()))
			}
		})
	}
}

// TestDecodeLenientButCanonical lists what Decode accepts although Encode
// never writes it, and checks it decodes to the canonical value.
func TestDecodeLenientButCanonical(t *testing.T) {
	cases := []struct {
		name string
		in   string
		at   time.Time
	}{
		{"offset time", strings.Replace(strictBase, `2026-11-22T21:21:13.123Z`, `2026-11-23T06:21:13.123+09:00`, 1), sampleTime},
		{"nanoseconds truncated", strings.Replace(strictBase, `13.123Z`, `13.123999999Z`, 1), sampleTime},
		{"no fraction", strings.Replace(strictBase, `13.123Z`, `13Z`, 1), sampleTime.Truncate(time.Second)},
		{"escaped member name", strings.Replace(strictBase, `"seq"`, `"s\u0065q"`, 1), sampleTime},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := Events.Decode([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !env.OccurredAt.Equal(c.at) || env.OccurredAt.Location() != time.UTC {
				t.Errorf("OccurredAt = %v, want %v UTC", env.OccurredAt, c.at)
			}
			if env.Seq != 3 {
				t.Errorf("Seq = %d", env.Seq)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	good := samples()[TypeMessageSent]
	with := func(f func(*Envelope)) Envelope { e := good; f(&e); return e }
	cases := []struct {
		name string
		env  Envelope
		want string
	}{
		{"nil payload", with(func(e *Envelope) { e.Payload = nil }), "nil payload"},
		{"unregistered payload", with(func(e *Envelope) { e.Payload = strangerEvent{} }), "unknown event type"},
		{"no id", with(func(e *Envelope) { e.ID = 0 }), "id is required"},
		{"no time", with(func(e *Envelope) { e.OccurredAt = time.Time{} }), "occurred_at"},
		{"no room", with(func(e *Envelope) { e.RoomID = 0 }), "room_id"},
		{"no seq", with(func(e *Envelope) { e.Seq = 0 }), "seq"},
		{"no user", with(func(e *Envelope) { e.UserID = 0 }), "user_id"},
		{"empty text", with(func(e *Envelope) { e.Payload = MessageSent{ClientMsgID: "c"} }), "text"},
		{"NUL in text", with(func(e *Envelope) { e.Payload = MessageSent{Text: "a\x00b", ClientMsgID: "c"} }), "U+0000"},
		{"NUL in causation", with(func(e *Envelope) { e.CausationID = "\x00" }), "U+0000"},
		{"NUL first in correlation", with(func(e *Envelope) { e.CorrelationID = "\x00c" }), "U+0000"},
		{"invalid UTF-8 in text", with(func(e *Envelope) { e.Payload = MessageSent{Text: "a\xffb", ClientMsgID: "c"} }), "UTF-8"},
		{"oversized", with(func(e *Envelope) {
			e.Payload = MessageSent{Text: strings.Repeat("가", MaxEventSize/3+1), ClientMsgID: "c"}
		}), "exceeds"},
		{"seq on user event", Envelope{ID: 1, UserID: 1, Seq: 1, OccurredAt: sampleTime, Payload: UserRegistered{Nickname: "n"}}, "seq"},
		{"room on user.registered", Envelope{ID: 1, UserID: 1, RoomID: 2, OccurredAt: sampleTime, Payload: UserRegistered{Nickname: "n"}}, "room_id"},
		{"read mark without room", Envelope{ID: 1, UserID: 1, OccurredAt: sampleTime, Payload: ReadMarkMoved{UpTo: 5}}, "room_id"},
		{"read mark without up_to", Envelope{ID: 1, UserID: 1, RoomID: 2, Seq: 3, OccurredAt: sampleTime, Payload: ReadMarkMoved{}}, "up_to"},
		{"read mark v2 without seq", Envelope{ID: 1, UserID: 1, RoomID: 2, OccurredAt: sampleTime, Payload: ReadMarkMoved{UpTo: 5}}, "seq"},
		{"proposal without user", Envelope{ID: 1, RoomID: 2, Seq: 1, OccurredAt: sampleTime, Payload: RoomProposed{Title: "t"}}, "user_id"},
		{"room without title", Envelope{ID: 1, RoomID: 2, Seq: 1, OccurredAt: sampleTime, Payload: RoomCreated{}}, "title"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Events.Encode(c.env)
			if err == nil {
				t.Fatalf("Encode accepted it: %s", b)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// TestEncodeLargestMessage checks that the largest message the API allows
// (2000 code points of 4-byte UTF-8) fits the event size limit with room to
// spare.
func TestEncodeLargestMessage(t *testing.T) {
	e := samples()[TypeMessageSent]
	e.Payload = MessageSent{Text: strings.Repeat("😀", 2000), ClientMsgID: strings.Repeat("c", 64), Nickname: strings.Repeat("닉", 32)}
	b, err := Events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxEventSize/4 {
		t.Errorf("largest message encodes to %d bytes; MaxEventSize is %d", len(b), MaxEventSize)
	}
}

type strangerEvent struct{}

func (strangerEvent) EventType() string { return "stranger.event" }

// TestDecodeNeverPanicsOnTruncation decodes every prefix of every golden.
func TestDecodeNeverPanicsOnTruncation(t *testing.T) {
	for typ, env := range samples() {
		golden, err := os.ReadFile(goldenPath(typ, env.Version))
		if err != nil {
			t.Fatal(err)
		}
		golden = []byte(strings.TrimSpace(string(golden)))
		for i := range len(golden) {
			if _, err := Events.Decode(golden[:i]); err == nil {
				t.Errorf("%s: prefix of %d bytes decoded", typ, i)
			} else if !errors.Is(err, ErrDecode) {
				t.Errorf("%s: prefix of %d bytes: %v does not wrap ErrDecode", typ, i, err)
			}
		}
	}
}

// TestEventSizeLimit: an event of exactly MaxEventSize bytes is written and
// read back; one byte more is refused at both ends.
func TestEventSizeLimit(t *testing.T) {
	withText := func(n int) Envelope {
		e := samples()[TypeMessageSent]
		e.Payload = MessageSent{Text: strings.Repeat("a", n), ClientMsgID: "c"}
		return e
	}
	small, err := Events.Encode(withText(1))
	if err != nil {
		t.Fatal(err)
	}
	n := MaxEventSize - len(small) + 1
	atLimit, err := Events.Encode(withText(n))
	if err != nil || len(atLimit) != MaxEventSize {
		t.Fatalf("Encode of %d bytes: %d bytes, %v", MaxEventSize, len(atLimit), err)
	}
	if env, err := Events.Decode(atLimit); err != nil || len(env.Payload.(MessageSent).Text) != n {
		t.Errorf("Decode of %d bytes: %v", MaxEventSize, err)
	}
	if b, err := Events.Encode(withText(n + 1)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("Encode of %d bytes = %d bytes, %v; want an error that it exceeds the limit", MaxEventSize+1, len(b), err)
	}
	over := append(atLimit, ' ') // trailing whitespace: valid JSON, one byte over
	if _, err := Events.Decode(over); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("Decode of %d bytes: %v; want ErrDecode, exceeds the limit", len(over), err)
	}
}
