package command

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// Unit tests of the message state (messages.go), the decisions of edits,
// deletes, reactions, replies and mentions, and their snapshot form.

// roomWithMessage returns room 7 with members 1 ("a") and 2 ("b"), and a
// message of user 1 (its id).
func roomWithMessage(t *testing.T, dp deps) (*room, schemas.ID) {
	t.Helper()
	r := withMember(t, 7, dp)
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 2, Nickname: "b"}, dp); err != nil {
		t.Fatal(err)
	}
	d, err := decideSend(r, Command{Kind: KindSend, RoomID: 7, UserID: 1, Nickname: "a", Body: "hello there", ClientMsgID: "m1"}, dp)
	if err != nil {
		t.Fatal(err)
	}
	return r, d.events[0].ID
}

func TestMessageFold(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	sent := schemas.Envelope{ID: 100, RoomID: 7, UserID: 1, Seq: 3, OccurredAt: at}
	m := newMsgMeta(sent, schemas.MessageSent{Text: strings.Repeat("é", 150), ClientMsgID: "c", Nickname: "a"})
	if n := len([]rune(m.preview)); n != previewRunes {
		t.Fatalf("preview of %d code points, want %d", n, previewRunes)
	}
	ev := func(seq int64, user schemas.ID, p schemas.Event) schemas.Envelope {
		return schemas.Envelope{ID: schemas.ID(100 + seq), RoomID: 7, UserID: user, Seq: seq, OccurredAt: at.Add(time.Duration(seq) * time.Second), Payload: p}
	}
	steps := []schemas.Envelope{
		ev(4, 2, schemas.ReactionAdded{MessageID: 100, Emoji: "👍"}),
		ev(5, 3, schemas.ReactionAdded{MessageID: 100, Emoji: "👍"}),
		ev(6, 2, schemas.ReactionAdded{MessageID: 100, Emoji: "🎉"}),
		ev(7, 2, schemas.ReactionAdded{MessageID: 100, Emoji: "👍"}), // again: no change
		ev(8, 3, schemas.ReactionRemoved{MessageID: 100, Emoji: "👍"}),
		ev(9, 3, schemas.ReactionRemoved{MessageID: 100, Emoji: "🎉"}), // never added: no change
		ev(10, 1, schemas.MessageEdited{MessageID: 100, Text: "fixed"}),
	}
	for _, e := range steps {
		m = m.next(e)
	}
	want := []reaction{{"👍", []schemas.ID{2}}, {"🎉", []schemas.ID{2}}}
	if !slices.EqualFunc(m.reactions, want, func(a, b reaction) bool { return a.emoji == b.emoji && slices.Equal(a.users, b.users) }) {
		t.Errorf("reactions = %+v, want %+v", m.reactions, want)
	}
	if m.preview != "fixed" || m.textHash != textHash("fixed") || !m.editedAt.Equal(at.Add(10*time.Second)) {
		t.Errorf("after the edit: preview %q, edited at %v", m.preview, m.editedAt)
	}
	// Folding the same events again changes nothing (at-least-once).
	again := m
	for _, e := range steps[:6] {
		again = again.next(e)
	}
	if len(again.reactions) != 2 || !again.reacted(2, "👍") || again.reacted(3, "👍") {
		t.Errorf("refolding changed the reactions: %+v", again.reactions)
	}
	del := m.next(ev(11, 1, schemas.MessageDeleted{MessageID: 100, AuthorID: 1, MessageSeq: 3, SentAt: schemas.FormatTime(at)}))
	if !del.deleted || del.preview != "" || del.textHash != 0 || del.reactions != nil {
		t.Errorf("a tombstone keeps %+v", del)
	}
	if after := del.next(ev(12, 2, schemas.ReactionAdded{MessageID: 100, Emoji: "👍"})); after != del {
		t.Error("a reaction changed a deleted message")
	}
	if after := del.next(ev(13, 1, schemas.MessageEdited{MessageID: 100, Text: "back"})); after != del {
		t.Error("an edit changed a deleted message")
	}
	if len(m.reactions) != 2 || m.deleted {
		t.Error("next changed the state it was given (states are shared with snapshots)")
	}
}

func TestDecideMessageChanges(t *testing.T) {
	type setup func(t *testing.T, dp *deps, r *room, msg schemas.ID)
	react := func(user schemas.ID, emoji string) setup {
		return func(t *testing.T, dp *deps, r *room, msg schemas.ID) {
			t.Helper()
			if _, err := decideReaction(r, Command{Kind: KindReact, UserID: user, MessageID: msg, Emoji: emoji}, *dp); err != nil {
				t.Fatal(err)
			}
		}
	}
	deleted := func(t *testing.T, dp *deps, r *room, msg schemas.ID) {
		t.Helper()
		if _, err := decideDelete(r, Command{Kind: KindDelete, UserID: 1, MessageID: msg}, *dp); err != nil {
			t.Fatal(err)
		}
	}
	later := func(d time.Duration) setup {
		return func(_ *testing.T, dp *deps, _ *room, _ schemas.ID) { dp.now = dp.now.Add(d) }
	}
	tests := []struct {
		name     string
		before   []setup
		cmd      Command // MessageID 0 means the message
		want     []string
		wantCode schemas.Code
	}{
		{"edit by the author", nil, Command{Kind: KindEdit, UserID: 1, Body: "hello, there"}, []string{schemas.TypeMessageEdited}, ""},
		{"edit with the same text: a retry", nil, Command{Kind: KindEdit, UserID: 1, Body: "hello there"}, nil, ""},
		{"edit by another member", nil, Command{Kind: KindEdit, UserID: 2, Body: "x"}, nil, schemas.CodeForbidden},
		{"edit by an admin", nil, Command{Kind: KindEdit, Admin: true, Body: "x"}, nil, schemas.CodeForbidden},
		{"edit at the window's end", []setup{later(15 * time.Minute)}, Command{Kind: KindEdit, UserID: 1, Body: "x"}, []string{schemas.TypeMessageEdited}, ""},
		{"edit past the window", []setup{later(15*time.Minute + time.Millisecond)}, Command{Kind: KindEdit, UserID: 1, Body: "x"}, nil, schemas.CodeForbidden},
		{"edit a deleted message", []setup{deleted}, Command{Kind: KindEdit, UserID: 1, Body: "x"}, nil, schemas.CodeConflict},
		{"edit an unknown message", nil, Command{Kind: KindEdit, UserID: 1, MessageID: 999999, Body: "x"}, nil, schemas.CodeNotFound},
		{"delete by the author, long after", []setup{later(48 * time.Hour)}, Command{Kind: KindDelete, UserID: 1}, []string{schemas.TypeMessageDeleted}, ""},
		{"delete by an admin", nil, Command{Kind: KindDelete, Admin: true}, []string{schemas.TypeMessageDeleted}, ""},
		{"delete by another member", nil, Command{Kind: KindDelete, UserID: 2}, nil, schemas.CodeForbidden},
		{"delete twice: nothing", []setup{deleted}, Command{Kind: KindDelete, UserID: 1}, nil, ""},
		{"react", nil, Command{Kind: KindReact, UserID: 2, Emoji: "👍"}, []string{schemas.TypeMessageReactionAdded}, ""},
		{"react again: nothing", []setup{react(2, "👍")}, Command{Kind: KindReact, UserID: 2, Emoji: "👍"}, nil, ""},
		{"unreact", []setup{react(2, "👍")}, Command{Kind: KindUnreact, UserID: 2, Emoji: "👍"}, []string{schemas.TypeMessageReactionRemoved}, ""},
		{"unreact what is not there: nothing", []setup{react(1, "👍")}, Command{Kind: KindUnreact, UserID: 2, Emoji: "👍"}, nil, ""},
		{"react as a stranger", nil, Command{Kind: KindReact, UserID: 9, Emoji: "👍"}, nil, schemas.CodeForbidden},
		{"react to a deleted message", []setup{deleted}, Command{Kind: KindReact, UserID: 2, Emoji: "👍"}, nil, schemas.CodeConflict},
		{"reply to a message of another room", nil, Command{Kind: KindSend, UserID: 2, Nickname: "b", Body: "x", ClientMsgID: "r", ReplyTo: 424242}, nil, schemas.CodeBadRequest},
		{"mention a stranger", nil, Command{Kind: KindSend, UserID: 2, Nickname: "b", Body: "x", ClientMsgID: "r", Mentions: []schemas.ID{9}}, nil, schemas.CodeBadRequest},
		{"mention a member", nil, Command{Kind: KindSend, UserID: 2, Nickname: "b", Body: "@a", ClientMsgID: "r", Mentions: []schemas.ID{1}}, []string{schemas.TypeMessageSent}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp := testDeps(20, users{})
			r, msg := roomWithMessage(t, dp)
			// A message of room 8 by user 2, known to the same owner.
			dp.recordMsg(&msgMeta{id: 424242, room: 8, author: 2, nickname: "b"})
			for _, s := range tt.before {
				s(t, &dp, r, msg)
			}
			cmd := tt.cmd
			cmd.RoomID = 7
			if cmd.MessageID == 0 {
				cmd.MessageID = msg
			}
			d, _, err := decide(r, cmd, dp)
			if code(err) != tt.wantCode {
				t.Fatalf("error %v, want code %q", err, tt.wantCode)
			}
			if got := types(d); !slices.Equal(got, tt.want) {
				t.Errorf("appended %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecideReplyAndCap(t *testing.T) {
	dp := testDeps(20, users{})
	r, msg := roomWithMessage(t, dp)
	d, err := decideSend(r, Command{Kind: KindSend, RoomID: 7, UserID: 2, Nickname: "b", Body: "yes", ClientMsgID: "r1", ReplyTo: msg}, dp)
	if err != nil {
		t.Fatal(err)
	}
	got := d.events[0].Payload.(schemas.MessageSent).ReplyTo
	if got == nil || got.MessageID != msg || got.UserID != 1 || got.Nickname != "a" || got.Preview != "hello there" || got.Deleted {
		t.Fatalf("reply_to = %+v", got)
	}
	if _, err := decideDelete(r, Command{Kind: KindDelete, RoomID: 7, UserID: 1, MessageID: msg}, dp); err != nil {
		t.Fatal(err)
	}
	d, err = decideSend(r, Command{Kind: KindSend, RoomID: 7, UserID: 2, Nickname: "b", Body: "what?", ClientMsgID: "r2", ReplyTo: msg}, dp)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.events[0].Payload.(schemas.MessageSent).ReplyTo; !got.Deleted || got.Preview != "" {
		t.Fatalf("a reply to a deleted message shows %+v", got)
	}

	// The cap counts distinct emoji; another member may still add one
	// that is there.
	dp = testDeps(20, users{})
	r, msg = roomWithMessage(t, dp)
	emoji := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "🙂", "🤗"}
	for _, e := range emoji {
		if _, err := decideReaction(r, Command{Kind: KindReact, RoomID: 7, UserID: 1, MessageID: msg, Emoji: e}, dp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := decideReaction(r, Command{Kind: KindReact, RoomID: 7, UserID: 2, MessageID: msg, Emoji: "🤩"}, dp); code(err) != schemas.CodeConflict {
		t.Fatalf("a 21st emoji: %v, want conflict", err)
	}
	if d, err := decideReaction(r, Command{Kind: KindReact, RoomID: 7, UserID: 2, MessageID: msg, Emoji: "😀"}, dp); err != nil || len(d.events) != 1 {
		t.Fatalf("an emoji already there: %v", err)
	}

	// A lookup the store cannot answer refuses the command.
	dp.findMsg = func(schemas.ID) (*msgMeta, bool, error) { return nil, false, errors.New("down") }
	if _, err := decideEdit(r, Command{Kind: KindEdit, RoomID: 7, UserID: 1, MessageID: msg, Body: "x"}, dp); code(err) != schemas.CodeUnavailable {
		t.Fatalf("store down: %v, want unavailable", err)
	}
}

func TestValidEmoji(t *testing.T) {
	good := []string{"👍", "👍🏽", "👨‍👩‍👧‍👦", "🇰🇷", "❤️", "1️⃣", "#️⃣", "☕", "🏳️‍🌈"}
	bad := []string{"", "a", "ab", "👍👍", "👍a", "🇰", "1", "\u200b", "<b>", "👍\u0000", string([]byte{0xff}), strings.Repeat("👍\u200d", 20) + "👍"}
	for _, s := range good {
		if !validEmoji(s) {
			t.Errorf("validEmoji(%q) = false", s)
		}
	}
	for _, s := range bad {
		if validEmoji(s) {
			t.Errorf("validEmoji(%q) = true", s)
		}
	}
}

func TestMsgTableEviction(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	tb := newMsgTable()
	for i := range 10 {
		tb.put(&msgMeta{id: schemas.ID(i + 1), room: 7, author: 1, touched: at.Add(time.Duration(i) * time.Minute)})
	}
	// Message 1 changes: it moves to the young end.
	m1, _ := tb.get(1)
	c := m1.clone()
	c.touched = at.Add(time.Hour)
	tb.put(c)
	ev := tb.evictable(at.Add(5*time.Minute), 100)
	if ids := idsOf(ev); !slices.Equal(ids, []schemas.ID{2, 3, 4, 5}) {
		t.Fatalf("evictable by age = %v", ids)
	}
	if ids := idsOf(tb.evictable(at, 3)); !slices.Equal(ids, []schemas.ID{2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("evictable by count = %v", ids)
	}
	// Message 2 changes after the capture: it stays.
	m2, _ := tb.get(2)
	tb.put(m2.next(schemas.Envelope{UserID: 3, OccurredAt: at.Add(2 * time.Hour), Payload: schemas.ReactionAdded{MessageID: 2, Emoji: "👍"}}))
	tb.evict(ev)
	if ids := idsOf(tb.list()); !slices.Equal(ids, []schemas.ID{6, 7, 8, 9, 10, 1, 2}) {
		t.Fatalf("left after eviction = %v", ids)
	}
}

func idsOf(ms []*msgMeta) []schemas.ID {
	out := make([]schemas.ID, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	return out
}

func TestSnapshotWindowCarriesMessages(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC).Truncate(time.Millisecond)
	m := &msgMeta{id: 100, room: 7, author: 1, nickname: "a", clientMsgID: "c", seq: 3, at: at, preview: "hi",
		textHash: textHash("hi"), editedAt: at.Add(time.Second), reactions: []reaction{{"👍", []schemas.ID{2, 3}}}, touched: at}
	gone := &msgMeta{id: 99, room: 7, author: 1, seq: 2, at: at, touched: at}
	c := &capture{msgs: []*msgMeta{gone, m}, evictMsgs: []*msgMeta{gone}}
	body, err := c.encodeWindow()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256Sum(body)
	_, tb, err := decodeWindow(body, sum)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tb.get(99); ok {
		t.Error("an evicted message is in the snapshot")
	}
	got, ok := tb.get(100)
	if !ok || got.preview != "hi" || !got.editedAt.Equal(m.editedAt) || !got.reacted(3, "👍") || got.textHash != m.textHash {
		t.Fatalf("decoded %+v", got)
	}

	// A version 1 window (an older build's) rebuilds the table from its sends.
	v1 := []byte(`{"v":1,"sends":[{"room":"7","user":"1","client_msg_id":"c","id":"100","seq":3,"text":"hello","nickname":"a","at":"2026-11-22T21:00:00Z","off":5}]}`)
	_, tb, err = decodeWindow(v1, sha256Sum(v1))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tb.get(100); !ok || got.author != 1 || got.preview != "hello" || got.seq != 3 {
		t.Fatalf("from a v1 window: %+v", got)
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
