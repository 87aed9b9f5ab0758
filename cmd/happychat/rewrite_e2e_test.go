package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/pgtest"
	"happychat/internal/testenv"
	"happychat/schemas"
)

// TestRewriteLog: a log written below feature level 4 (texts in the clear,
// one message deleted) is rewritten into new topics where no text is in
// the clear, the deleted message's texts (its send, its edit, the preview a
// reply captured) open to nothing, and the others open as they were.
func TestRewriteLog(t *testing.T) {
	brokers := testenv.Kafka(t)
	pool, pgURL := pgtest.Database(t, testenv.PGURL(), "test_rewrite_")
	from, to := "rw"+testenv.RandomHex(4), "rw"+testenv.RandomHex(4)
	env := map[string]string{"KAFKA_BROKERS": strings.Join(brokers, ","), "PG_URL": pgURL, "CHAT_TOPIC_PREFIX": from,
		"CHAT_ROOM_PARTITIONS": "3", "CHAT_LOG_LEVEL": "warn", "HAPPYCHAT_STATE_DIR": t.TempDir()}
	ctx := context.Background()
	sub := func(prefix string, args ...string) string {
		t.Helper()
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["CHAT_TOPIC_PREFIX"] = prefix
		var out bytes.Buffer
		if err := run(ctx, Env{Getenv: func(k string) string { return e[k] }, Stdout: &out, Stderr: os.Stderr}, args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	sub(from, "topics")
	sub(to, "topics")
	oldNames, newNames := schemas.NamesFor(from), schemas.NamesFor(to)
	testenv.DropTopicsAfter(t, brokers, from)
	testenv.DropTopicsAfter(t, brokers, to)

	mark := testenv.RandomHex(6)
	keep, drop, dropEdit := "keep-"+mark, "drop-"+mark, "drop-edit-"+mark
	const room, alice, bob, a, b, c, d = 7267000000000000100, 7267000000000000001, 7267000000000000002,
		7267000000000000201, 7267000000000000202, 7267000000000000203, 7267000000000000204
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	events := []schemas.Envelope{
		{ID: a, UserID: alice, Payload: schemas.MessageSent{Text: keep, ClientMsgID: "a", Nickname: "alice"}},
		{ID: b, UserID: alice, Payload: schemas.MessageSent{Text: drop, ClientMsgID: "b", Nickname: "alice"}},
		{ID: c, UserID: bob, Payload: schemas.MessageSent{Text: "reply to b", ClientMsgID: "c", Nickname: "bob",
			ReplyTo: &schemas.ReplyTo{MessageID: b, UserID: alice, Nickname: "alice", Preview: drop}}},
		{ID: d, UserID: bob, Payload: schemas.MessageSent{Text: "reply to a", ClientMsgID: "d", Nickname: "bob",
			ReplyTo: &schemas.ReplyTo{MessageID: a, UserID: alice, Nickname: "alice", Preview: keep}}},
		{ID: d + 1, UserID: alice, Payload: schemas.MessageEdited{MessageID: b, Text: dropEdit}},
		{ID: d + 2, UserID: alice, Payload: schemas.MessageDeleted{MessageID: b, AuthorID: alice, Nickname: "alice",
			MessageSeq: 2, SentAt: schemas.FormatTime(at.Add(2 * time.Second))}},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range events {
		e := &events[i]
		e.RoomID, e.Seq, e.OccurredAt = room, int64(i+1), at.Add(time.Duration(i+1)*time.Second)
		// Level 3: written in the clear, as before this feature.
		v, version, err := schemas.Events.EncodeAt(*e, 3)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: oldNames.Rooms, Key: schemas.Key(room), Value: v, Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderType, Value: []byte(e.Payload.EventType())}, {Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(version))},
		}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{keep, drop, dropEdit} {
		if searchLog(t, brokers, oldNames.Rooms, s) == 0 {
			t.Fatalf("%q is not in the clear in the old log: the search below cannot fail", s)
		}
	}

	out := sub(from, "rewrite-log", "--to-prefix", to)
	if !strings.Contains(out, "rewrote 6 records") || !strings.Contains(out, "4 texts sealed, 3 texts of deleted messages erased") {
		t.Errorf("rewrite-log said %q", out)
	}
	for _, s := range []string{keep, drop, dropEdit} {
		if n := searchLog(t, brokers, newNames.Rooms, s); n != 0 {
			t.Errorf("%q in the clear in %d records of the new log", s, n)
		}
	}
	if n := searchOpened(t, pool, brokers, newNames.Rooms, keep); n != 2 {
		t.Errorf("the kept text opens in %d events of the new log, want 2 (its send, a reply's preview)", n)
	}
	for _, s := range []string{drop, dropEdit} {
		if n := searchOpened(t, pool, brokers, newNames.Rooms, s); n != 0 {
			t.Errorf("the deleted %q opens in %d events of the new log", s, n)
		}
	}
	if n := searchOpened(t, pool, brokers, newNames.Rooms, "reply to b"); n != 1 {
		t.Errorf("the reply to the deleted message opens in %d events, want 1", n)
	}
	// Once written, the new topics are not written again.
	e := map[string]string{}
	for k, v := range env {
		e[k] = v
	}
	if err := run(ctx, Env{Getenv: func(k string) string { return e[k] }, Stdout: io.Discard, Stderr: io.Discard},
		[]string{"rewrite-log", "--to-prefix", to}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second rewrite into the same topics: %v", err)
	}
}
