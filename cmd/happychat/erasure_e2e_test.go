package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/msgkeys"
	"happychat/internal/testenv"
	"happychat/schemas"
)

// TestErasureEndToEnd is the erasure test of docs/adr/0009: a message's
// text, its edit's and the preview a reply captured are searched for in
// every store the system controls: the rooms topic's bytes (aborted
// records included), every PostgreSQL table (the command's snapshots and
// stores, the key store, the views), every ClickHouse table read without
// FINAL (every active part, merged or not), and the realtime ring and log
// through a resume. The search finds them before the delete (so it can
// fail), and nowhere after it, nor after a fresh replay of every view.
func TestErasureEndToEnd(t *testing.T) {
	s := startRealtimeDev(t, map[string]string{"CHAT_SNAPSHOT_INTERVAL": "1s"})
	alice, bob := s.session("alice"), s.session("bob")
	room := s.openRoom("erasure")
	rp := roomPath(room)
	s.join(room, alice)
	s.join(room, bob)
	ctx := context.Background()
	mark := testenv.RandomHex(6)
	secret, edited := "erase-me-"+mark, "erase-edit-"+mark

	orig := s.post(room, alice, secret)
	msgPath := rp + "/messages/" + orig.ID.String()
	const msgRoute = "/v1/rooms/:id/messages/:message_id"
	if st, _, b := s.call("PATCH", msgPath, msgRoute, alice.Token, map[string]string{"body": edited}, nil); st != 200 {
		t.Fatalf("edit: %d %s", st, b)
	}
	var reply schemas.Message
	if st, _, b := s.call("POST", rp+"/messages", "/v1/rooms/:id/messages", bob.Token,
		map[string]any{"body": "answer " + mark, "client_msg_id": "re-" + mark, "reply_to": orig.ID}, &reply); st != 201 {
		t.Fatalf("reply: %d %s", st, b)
	}
	if reply.ReplyTo == nil || reply.ReplyTo.Preview != edited {
		t.Fatalf("reply_to %+v", reply.ReplyTo)
	}

	pg, err := pgxpool.New(ctx, s.env["PG_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	ch := openClickHouse(t, s.env)
	rooms := schemas.NamesFor(s.env["CHAT_TOPIC_PREFIX"]).Rooms
	brokers := strings.Split(s.env["KAFKA_BROKERS"], ",")
	needles := []string{secret, edited}
	var lastDial time.Time
	search := func(ns ...string) map[string]int {
		t.Helper()
		found := map[string]int{}
		for _, n := range ns {
			found["kafka "+rooms] += searchLog(t, brokers, rooms, n)
			found["kafka "+rooms+" opened"] += searchOpened(t, pg, brokers, rooms, n)
			for where, k := range searchPostgres(t, pg, n) {
				found["postgres "+where] += k
			}
			for where, k := range searchClickHouse(t, ch, n) {
				found["clickhouse "+where] += k
			}
		}
		// One socket a search, at most two a second: handshakes are rate
		// limited per user (2/s).
		time.Sleep(time.Until(lastDial.Add(600 * time.Millisecond)))
		lastDial = time.Now()
		found["realtime resume"] = searchResume(t, s, room, alice, reply.Seq, ns...)
		for k, v := range found {
			if v == 0 {
				delete(found, k)
			}
		}
		return found
	}

	// Before the delete: the history holds the texts in the clear (search,
	// exports), the ring too, and soon a snapshot; the log holds them only
	// sealed, while its other members are there in the clear.
	eventually(t, "the texts in the history and a snapshot", func() error {
		f := search(needles...)
		for _, want := range []string{"clickhouse messages.text", "clickhouse message_changes.text", "clickhouse messages.reply_preview",
			"realtime resume", "postgres command_snapshots.win"} {
			if f[want] == 0 {
				return fmt.Errorf("not found in %s yet (found: %v)", want, f)
			}
		}
		if f["kafka "+rooms+" opened"] == 0 {
			return fmt.Errorf("the log does not open to the texts (found: %v)", f)
		}
		if f["kafka "+rooms] != 0 {
			t.Fatalf("the log holds a text in the clear: %v", f)
		}
		return nil
	})
	if n := searchLog(t, brokers, rooms, "re-"+mark); n != 1 {
		t.Fatalf("the log search finds the reply's client_msg_id %d times, want 1", n)
	}
	t.Logf("before the delete: %v", search(needles...))

	start := time.Now()
	if st, _, b := s.call("DELETE", msgPath, msgRoute, alice.Token, nil, nil); st != 204 {
		t.Fatalf("delete: %d %s", st, b)
	}
	acked := time.Since(start)
	polls := 0
	eventually(t, "no store yields the deleted texts", func() error {
		polls++
		if f := search(needles...); len(f) > 0 {
			return fmt.Errorf("still found in %v", f)
		}
		return nil
	})
	t.Logf("erasure: delete acknowledged in %v, no store yields the text %v after the request (%d searches)",
		acked.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), polls)

	// A fresh replay of every view reads the log again: the texts stay
	// gone, and the reply still reads as a reply to a deleted message.
	if err := run(ctx, Env{Getenv: func(k string) string { return s.env[k] }, Stdout: io.Discard, Stderr: os.Stderr},
		[]string{"replay", "--view", "all"}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if f := search(needles...); len(f) > 0 {
		t.Fatalf("after a replay, found in %v", f)
	}
	eventually(t, "the replayed history shows the tombstone and the reply", func() error {
		var page struct {
			Messages []schemas.Message `json:"messages"`
		}
		if st, _, b := s.call("GET", rp+"/messages?limit=50", "/v1/rooms/:id/messages", "", nil, &page); st != 200 {
			return fmt.Errorf("history: %d %s", st, b)
		}
		var gotOrig, gotReply bool
		for _, m := range page.Messages {
			switch m.ID {
			case orig.ID:
				gotOrig = m.Deleted && m.Body == ""
			case reply.ID:
				gotReply = m.Body == "answer "+mark && m.ReplyTo != nil && m.ReplyTo.Deleted && m.ReplyTo.Preview == ""
			}
		}
		if !gotOrig || !gotReply {
			return fmt.Errorf("history %+v", page.Messages)
		}
		return nil
	})
}

// searchLog counts the records of topic, read raw from the start to the
// end (aborted transactions' records included), whose bytes hold needle.
func searchLog(t *testing.T, brokers []string, topic, needle string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[int32]kgo.Offset{}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			parts[o.Partition], left[o.Partition] = kgo.NewOffset().AtStart(), o.Offset
		}
	})
	if len(parts) == 0 {
		return 0
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v (partitions left %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if bytes.Contains(r.Value, []byte(needle)) || bytes.Contains(r.Key, []byte(needle)) {
				n++
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return n
}

// searchOpened counts the events of topic (committed ones, as a replay
// reads them) whose texts, opened with the key store as every reader
// opens them, hold needle.
func searchOpened(t *testing.T, pg *pgxpool.Pool, brokers []string, topic, needle string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var envs []schemas.Envelope
	if err := logread.Read(ctx, brokers, topic, logread.HighWatermark, func(r *kgo.Record) error {
		env, err := schemas.Events.Decode(r.Value)
		if err != nil {
			return err
		}
		envs = append(envs, env)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A fresh reader: nothing cached.
	if err := msgkeys.NewReader(pg, topic).Open(ctx, envs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range envs {
		b, err := schemas.Marshal(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(needle)) {
			n++
		}
	}
	return n
}

// column is a column of a store's table, as a search lists them.
type column struct{ table, name, typ string }

// scanColumns reads (table, column, type) rows, of PostgreSQL or
// ClickHouse, and fails the test when there is none to search.
func scanColumns(t *testing.T, rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}) []column {
	t.Helper()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if rows.Err() != nil || len(cols) == 0 {
		t.Fatalf("no columns to search (%v)", rows.Err())
	}
	return cols
}

// searchPostgres counts, per table.column of the current schema, the rows
// whose text, JSON or bytes hold needle.
func searchPostgres(t *testing.T, pg *pgxpool.Pool, needle string) map[string]int {
	t.Helper()
	ctx := context.Background()
	rows, err := pg.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')`)
	if err != nil {
		t.Fatal(err)
	}
	cols := scanColumns(t, rows)
	rows.Close()
	out := map[string]int{}
	for _, c := range cols {
		cond := fmt.Sprintf(`strpos(%q::text, $1) > 0`, c.name)
		if c.typ == "bytea" {
			cond = fmt.Sprintf(`position(convert_to($1, 'UTF8') in %q) > 0`, c.name)
		}
		var n int
		if err := pg.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q WHERE %s`, c.table, cond), needle).Scan(&n); err != nil {
			t.Fatalf("search %s.%s: %v", c.table, c.name, err)
		}
		out[c.table+"."+c.name] = n
	}
	return out
}

// searchClickHouse counts, per table.column of the database, the rows
// whose strings hold needle, read without FINAL: every active part,
// merged or not.
func searchClickHouse(t *testing.T, ch clickhouse.Conn, needle string) map[string]int {
	t.Helper()
	ctx := context.Background()
	rows, err := ch.Query(ctx, `SELECT table, name, type FROM system.columns WHERE database = currentDatabase()
		AND (type LIKE '%String%') AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary AND engine NOT LIKE '%View%')`)
	if err != nil {
		t.Fatal(err)
	}
	cols := scanColumns(t, rows)
	_ = rows.Close()
	out := map[string]int{}
	for _, c := range cols {
		expr := fmt.Sprintf("position(toString(`%s`), ?) > 0", c.name)
		if strings.HasPrefix(c.typ, "Array") {
			expr = fmt.Sprintf("arrayExists(x -> position(x, ?) > 0, `%s`)", c.name)
		}
		var n uint64
		if err := ch.QueryRow(ctx, fmt.Sprintf("SELECT count() FROM `%s` WHERE %s", c.table, expr), needle).Scan(&n); err != nil {
			t.Fatalf("search %s.%s: %v", c.table, c.name, err)
		}
		out[c.table+"."+c.name] = int(n)
	}
	return out
}

// searchResume resumes the room from its start on a new socket and counts
// the frames up to seq upTo that hold a needle: the ring when the room has
// it, the log otherwise.
func searchResume(t *testing.T, s *rtDev, room schemas.ID, u schemas.Session, upTo int64, needles ...string) int {
	t.Helper()
	c := dialRT(t, "search", s.base, room, u, 0, nil)
	defer c.ws.Close()
	c.presence()
	events, _ := c.eventsUntil(upTo, 30*time.Second)
	n := 0
	for _, f := range events {
		for _, needle := range needles {
			if bytes.Contains(f.Raw, []byte(needle)) {
				n++
			}
		}
	}
	return n
}
