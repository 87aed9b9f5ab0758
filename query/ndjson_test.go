package query

import (
	"strings"
	"testing"

	"happychat/schemas"
)

// The hand-written encoder must render exactly what schemas.Marshal does.
func TestAppendMessageMatchesMarshal(t *testing.T) {
	base := schemas.Message{
		ID: 7265401934405767169, RoomID: 7265401934405767168, UserID: 42, Nickname: "toracle",
		Body: "hello", SentAt: "2026-11-22T21:21:13.123Z", ClientMsgID: "5f0c2a8e-1c1b-4a57-9d5e-1f7a2b3c4d5e", Seq: 41,
	}
	cases := map[string]func(m *schemas.Message){
		"plain":           func(*schemas.Message) {},
		"nil effects":     func(m *schemas.Message) { m.Effects = nil },
		"empty effects":   func(m *schemas.Message) { m.Effects = []string{} },
		"effects":         func(m *schemas.Message) { m.Effects = []string{"balloons", "confetti"} },
		"emoji and CJK":   func(m *schemas.Message) { m.Body = "猫が好き 🐱🎉 👩‍👩‍👧 é" },
		"quotes":          func(m *schemas.Message) { m.Body = `he said "hi" \ back/slash` },
		"controls":        func(m *schemas.Message) { m.Body = "tab\tnl\ncr\r\x01\x1f del\x7f" },
		"html":            func(m *schemas.Message) { m.Body = "<script>&amp;</script>" },
		"line separators": func(m *schemas.Message) { m.Body = "a\u2028b\u2029c" },
		"zero ids":        func(m *schemas.Message) { m.ID, m.UserID = 0, 0 },
		"long":            func(m *schemas.Message) { m.Body = strings.Repeat("ab🐱", 700) },
		"empty strings":   func(m *schemas.Message) { m.Nickname, m.Body, m.ClientMsgID = "", "", "" },
		"large seq":       func(m *schemas.Message) { m.Seq = 1<<62 + 12345 },
		"edited":          func(m *schemas.Message) { m.EditedAt = "2026-11-22T21:25:00.000Z" },
		"tombstone":       func(m *schemas.Message) { m.Body, m.Effects, m.Deleted = "", []string{}, true },
		"reply": func(m *schemas.Message) {
			m.ReplyTo = &schemas.ReplyTo{MessageID: 7265401934405767100, UserID: 43, Nickname: "nemo \"n\"", Preview: "who's <there>?"}
		},
		"reply to a deleted message": func(m *schemas.Message) {
			m.ReplyTo = &schemas.ReplyTo{MessageID: 7265401934405767100, UserID: 43, Nickname: "nemo", Deleted: true}
		},
		"reactions": func(m *schemas.Message) {
			m.Reactions = []schemas.Reaction{{Emoji: "👍🏽", UserIDs: []schemas.ID{42, 43}}, {Emoji: "👨‍👩‍👧", UserIDs: []schemas.ID{44}}}
		},
		"empty reactions and mentions": func(m *schemas.Message) { m.Reactions, m.Mentions = []schemas.Reaction{}, []schemas.ID{} },
		"mentions":                     func(m *schemas.Message) { m.Mentions = []schemas.ID{43, 7265401934405767168} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := base
			mutate(&m)
			want, err := schemas.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendMessage(nil, &m); string(got) != string(want) {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	m := schemas.Message{ID: 7265401934405767169, RoomID: 7265401934405767168, UserID: 42, Nickname: "toracle",
		Body: "message 123 about cats 🐱 and 東京 lorem ipsum dolor", SentAt: "2026-11-22T21:21:13.123Z",
		ClientMsgID: "c-1-2", Effects: []string{}, Seq: 41}
	var buf []byte
	for range b.N {
		buf = appendMessage(buf[:0], &m)
	}
}

func BenchmarkMarshalMessage(b *testing.B) {
	m := schemas.Message{ID: 7265401934405767169, RoomID: 7265401934405767168, UserID: 42, Nickname: "toracle",
		Body: "message 123 about cats 🐱 and 東京 lorem ipsum dolor", SentAt: "2026-11-22T21:21:13.123Z",
		ClientMsgID: "c-1-2", Effects: []string{}, Seq: 41}
	for range b.N {
		_, _ = schemas.Marshal(m)
	}
}
