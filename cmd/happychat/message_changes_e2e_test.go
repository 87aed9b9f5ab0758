package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"happychat/internal/wstest"
	"happychat/schemas"
)

// TestMessageChangesEndToEnd drives edits, deletes, replies, reactions and
// mentions (issue 18) through the whole system on the real servers: the
// command service appends them, the projectors write the history, the
// query service pages and exports it, the realtime service pushes the
// frames; then a replay of the history rebuilds the same views.
func TestMessageChangesEndToEnd(t *testing.T) {
	s := startRealtimeDev(t, nil)
	alice, bob := s.session("alice"), s.session("bob")
	room := s.openRoom("edits")
	rp := roomPath(room)
	s.join(room, alice)
	s.join(room, bob)
	watch := dialRT(t, "watch", s.base, room, bob, -1, nil)
	watch.presence()

	orig := s.post(room, alice, "original text congrats")
	// A reply to it that mentions alice.
	var reply schemas.Message
	if st, _, b := s.call("POST", rp+"/messages", "/v1/rooms/:id/messages", bob.Token,
		map[string]any{"body": "@alice yes", "client_msg_id": "r1", "reply_to": orig.ID, "mentions": []schemas.ID{alice.UserID}}, &reply); st != 201 {
		t.Fatalf("reply: %d %s", st, b)
	}
	if rt := reply.ReplyTo; rt == nil || rt.MessageID != orig.ID || rt.UserID != alice.UserID || rt.Preview != "original text congrats" ||
		!slices.Equal(reply.Mentions, []schemas.ID{alice.UserID}) {
		t.Fatalf("reply answered %+v", reply)
	}
	msgPath := func(m schemas.Message) string { return rp + "/messages/" + m.ID.String() }
	const msgRoute = "/v1/rooms/:id/messages/:message_id"
	const reactRoute = msgRoute + "/reactions/:emoji"
	react := func(u schemas.Session, m schemas.Message, emoji, method string) int {
		st, _, _ := s.call(method, msgPath(m)+"/reactions/"+url.PathEscape(emoji), reactRoute, u.Token, nil, nil)
		return st
	}

	// Edit: the author, within the window; a second edit with the same text
	// appends nothing.
	var edited schemas.Message
	for range 2 {
		if st, _, b := s.call("PATCH", msgPath(orig), msgRoute, alice.Token, map[string]string{"body": "edited text"}, &edited); st != 200 {
			t.Fatalf("edit: %d %s", st, b)
		}
	}
	if edited.Body != "edited text" || edited.EditedAt == "" || len(edited.Effects) != 0 || edited.ID != orig.ID {
		t.Fatalf("edit answered %+v", edited)
	}
	// Refusals name the rule.
	refusals := []struct {
		name, method, path, route, token string
		body                             any
		want                             int
	}{
		{"edit by another", "PATCH", msgPath(orig), msgRoute, bob.Token, map[string]string{"body": "mine now"}, 403},
		{"edit by the admin", "PATCH", msgPath(orig), msgRoute, e2eAdmin, map[string]string{"body": "x"}, 403},
		{"delete by another", "DELETE", msgPath(orig), msgRoute, bob.Token, nil, 403},
		{"unknown message", "DELETE", rp + "/messages/7267000000000000002", msgRoute, alice.Token, nil, 404},
		{"two emoji", "PUT", msgPath(orig) + "/reactions/" + url.PathEscape("👍👍"), reactRoute, bob.Token, nil, 400},
		{"not an emoji", "PUT", msgPath(orig) + "/reactions/a", reactRoute, bob.Token, nil, 400},
		{"reply to an unknown message", "POST", rp + "/messages", "/v1/rooms/:id/messages", bob.Token,
			map[string]any{"body": "?", "client_msg_id": "r2", "reply_to": "7267000000000000002"}, 400},
		{"mention a stranger", "POST", rp + "/messages", "/v1/rooms/:id/messages", bob.Token,
			map[string]any{"body": "?", "client_msg_id": "r3", "mentions": []string{"7267000000000000002"}}, 400},
	}
	for _, r := range refusals {
		if st, _, b := s.call(r.method, r.path, r.route, r.token, r.body, nil); st != r.want {
			t.Errorf("%s: %d %s, want %d", r.name, st, b, r.want)
		}
	}

	// Reactions: idempotent per (user, message, emoji).
	for _, step := range []struct {
		u      schemas.Session
		emoji  string
		method string
	}{{bob, "👍", "PUT"}, {bob, "👍", "PUT"}, {alice, "👍", "PUT"}, {bob, "🎉", "PUT"}, {bob, "🎉", "DELETE"}, {bob, "🎉", "DELETE"}} {
		if st := react(step.u, orig, step.emoji, step.method); st != 204 {
			t.Fatalf("%s %s by %s: %d", step.method, step.emoji, step.u.Nickname, st)
		}
	}

	// Delete: the author takes one back, the admin another; twice is fine.
	secret := s.post(room, alice, "a secret to take back")
	byAdmin := s.post(room, bob, "rude words")
	for range 2 {
		if st, _, b := s.call("DELETE", msgPath(secret), msgRoute, alice.Token, nil, nil); st != 204 {
			t.Fatalf("delete: %d %s", st, b)
		}
	}
	if st, _, b := s.call("DELETE", msgPath(byAdmin), msgRoute, e2eAdmin, nil, nil); st != 204 {
		t.Fatalf("admin delete: %d %s", st, b)
	}
	if st := react(bob, secret, "👍", "PUT"); st != 409 {
		t.Fatalf("a reaction to a deleted message: %d, want 409", st)
	}
	last := s.post(room, bob, "the end")

	// Every event took the room's next seq, and the retries none: created,
	// 2 joins, orig, reply, 1 edit, 4 reactions, secret, rude, 2 deletes,
	// last.
	if want := int64(1 + 2 + 2 + 1 + 4 + 2 + 2 + 1); last.Seq != want {
		t.Fatalf("the last message has seq %d, want %d", last.Seq, want)
	}

	// The socket saw every change as a frame, in seq order.
	events, _ := watch.eventsUntil(last.Seq, 30*time.Second)
	var kinds []string
	for i, f := range events {
		if i > 0 && f.EventSeq() != events[i-1].EventSeq()+1 {
			t.Fatalf("frames out of seq order: %s after %s", f, events[i-1])
		}
		switch f.Type {
		case wstest.TypeMessageEdited:
			if f.MessageID != orig.ID || f.Body != "edited text" || f.EditedAt == "" {
				t.Errorf("edit frame %s", f)
			}
		case wstest.TypeMessageDeleted:
			if f.MessageID != secret.ID && f.MessageID != byAdmin.ID {
				t.Errorf("delete frame %s", f)
			}
		case wstest.TypeReaction:
			if f.MessageID != orig.ID || f.UserID == 0 {
				t.Errorf("reaction frame %s", f)
			}
		}
		kinds = append(kinds, f.Type+" "+f.Op)
	}
	wantKinds := []string{"message ", "message ", "message_edited ", "reaction added", "reaction added", "reaction added", "reaction removed",
		"message ", "message ", "message_deleted ", "message_deleted ", "message "}
	if !slices.Equal(kinds[len(kinds)-len(wantKinds):], wantKinds) {
		t.Fatalf("frames %v, want them to end with %v", kinds, wantKinds)
	}

	// A resume from the room's ring never hands out a deleted text.
	resumed := dialRT(t, "resume", s.base, room, alice, secret.Seq-1, nil)
	resumed.presence()
	back, _ := resumed.eventsUntil(last.Seq, 30*time.Second)
	for _, f := range back {
		if f.Type == wstest.TypeMessage && f.Message.ID == secret.ID && (!f.Message.Deleted || f.Message.Body != "") {
			t.Fatalf("a resume replayed a deleted message: %s", f)
		}
	}

	history := func() ([]schemas.Message, error) {
		var page struct {
			Messages []schemas.Message `json:"messages"`
		}
		st, h, b := s.call("GET", rp+"/messages?limit=50", "/v1/rooms/:id/messages", "", nil, &page)
		if st != 200 {
			return nil, fmt.Errorf("history: %d %s", st, b)
		}
		if got := h.Get("X-Projected-Seq"); got != fmt.Sprint(last.Seq) {
			return nil, fmt.Errorf("projected seq %s, want %d", got, last.Seq)
		}
		return page.Messages, nil
	}
	var before []schemas.Message
	eventually(t, "history shows the changes", func() error {
		msgs, err := history()
		if err != nil {
			return err
		}
		before = msgs
		return checkChanges(msgs, alice, bob, orig, reply, secret, byAdmin)
	})

	// The export agrees with the pages.
	exported := exportRoom(t, s.base, rp)
	newestFirst := slices.Clone(exported)
	slices.Reverse(newestFirst)
	if !sameJSON(newestFirst, before) {
		t.Fatalf("the export differs from the history:\n%v\n%v", newestFirst, before)
	}

	// The analytics text of the deleted messages is gone once merged, and
	// no read path shows it before.
	ch := openClickHouse(t, s.env)
	ctx := context.Background()
	if err := ch.Exec(ctx, "OPTIMIZE TABLE messages FINAL"); err != nil {
		t.Fatal(err)
	}
	var leaked uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM messages WHERE room_id = ? AND id IN (?, ?) AND text != ''",
		uint64(room), uint64(secret.ID), uint64(byAdmin.ID)).Scan(&leaked); err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Fatalf("%d rows of deleted messages still hold their text after a merge", leaked)
	}

	// A replay of the history rebuilds the same views.
	if err := run(ctx, Env{Getenv: func(k string) string { return s.env[k] }, Stdout: io.Discard, Stderr: os.Stderr},
		[]string{"replay", "--view", "history"}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	eventually(t, "the replayed history equals the live one", func() error {
		after, err := history()
		if err != nil {
			return err
		}
		if !sameJSON(after, before) {
			return fmt.Errorf("after the replay:\n%v\nbefore:\n%v", after, before)
		}
		return nil
	})
	if got := exportRoom(t, s.base, rp); !sameJSON(got, exported) {
		t.Fatal("the replayed export differs")
	}

	// The socket's send takes a reply and mentions too.
	watch.sendJSON(map[string]any{"type": "send", "body": "from the socket", "client_msg_id": "ws-1",
		"reply_to": orig.ID.String(), "mentions": []string{alice.UserID.String()}})
	for {
		f := watch.mustRead(30 * time.Second)
		if f.Type == "error" {
			t.Fatalf("socket send refused: %s", f)
		}
		if f.Type != "ack" {
			continue
		}
		if rt := f.Message.ReplyTo; rt == nil || rt.MessageID != orig.ID || rt.Preview != "edited text" ||
			!slices.Equal(f.Message.Mentions, []schemas.ID{alice.UserID}) {
			t.Fatalf("socket reply acknowledged as %s", f)
		}
		break
	}
}

// checkChanges checks a newest-first page against what the test did.
func checkChanges(msgs []schemas.Message, alice, bob schemas.Session, orig, reply, secret, byAdmin schemas.Message) error {
	byID := map[schemas.ID]schemas.Message{}
	for _, m := range msgs {
		byID[m.ID] = m
	}
	o := byID[orig.ID]
	wantReactions := []schemas.Reaction{{Emoji: "👍", UserIDs: []schemas.ID{bob.UserID, alice.UserID}}}
	if o.Body != "edited text" || o.EditedAt == "" || len(o.Effects) != 0 || !sameJSON(o.Reactions, wantReactions) {
		return fmt.Errorf("the edited message reads %+v", o)
	}
	r := byID[reply.ID]
	if r.ReplyTo == nil || r.ReplyTo.Preview != "original text congrats" || r.ReplyTo.Nickname != alice.Nickname ||
		!slices.Equal(r.Mentions, []schemas.ID{alice.UserID}) {
		return fmt.Errorf("the reply reads %+v", r)
	}
	for _, d := range []schemas.Message{secret, byAdmin} {
		m := byID[d.ID]
		if !m.Deleted || m.Body != "" || len(m.Effects) != 0 || m.Seq != d.Seq || m.UserID != d.UserID {
			return fmt.Errorf("a deleted message reads %+v", m)
		}
	}
	return nil
}

// exportRoom reads the room's NDJSON export.
func exportRoom(t *testing.T, base, rp string) []schemas.Message {
	t.Helper()
	resp, err := http.Get(base + rp + "/messages/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []schemas.Message
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m schemas.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// openClickHouse connects to the history database of a dev environment.
func openClickHouse(t *testing.T, env map[string]string) clickhouse.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: strings.Split(env["CLICKHOUSE_ADDR"], ","),
		Auth: clickhouse.Auth{Database: env["CLICKHOUSE_DB"]}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
