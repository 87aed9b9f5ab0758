package projector

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// Unit tests of pure logic: no servers, run with -short.

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "-- a\n-- b\n", nil},
		{"one", "CREATE TABLE t (a UInt8) ENGINE = Memory;", []string{"CREATE TABLE t (a UInt8) ENGINE = Memory"}},
		{"two with comments", "-- head\nCREATE TABLE a (\n  x UInt8 -- why\n) ENGINE = Memory;\n\nALTER TABLE a ADD COLUMN y UInt8;\n",
			[]string{"CREATE TABLE a (\n  x UInt8\n) ENGINE = Memory", "ALTER TABLE a ADD COLUMN y UInt8"}},
		{"no final semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"semicolon inside a line", "SELECT ';' AS x\nFROM t;", []string{"SELECT ';' AS x\nFROM t"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitStatements(tc.sql); !slices.Equal(got, tc.want) {
				t.Errorf("splitStatements(%q) = %q, want %q", tc.sql, got, tc.want)
			}
		})
	}
}

func TestMigrationFiles(t *testing.T) {
	for _, dir := range []string{"migrations/postgres", "migrations/clickhouse"} {
		t.Run(dir, func(t *testing.T) {
			ms, err := loadMigrations(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) < 2 {
				t.Fatalf("%d migrations", len(ms))
			}
			for i, m := range ms {
				if m.version != i+1 {
					t.Errorf("%s: version %d, want %d (no gaps)", m.name, m.version, i+1)
				}
				if strings.TrimSpace(m.sql) == "" {
					t.Errorf("%s is empty", m.name)
				}
			}
		})
	}
	// Every view table the replay switches is created by the migrations.
	ms, _ := loadMigrations("migrations/postgres")
	var all strings.Builder
	for _, m := range ms {
		all.WriteString(m.sql)
	}
	for _, table := range pgViewTables {
		if !strings.Contains(all.String(), "CREATE TABLE IF NOT EXISTS "+table+" ") {
			t.Errorf("view table %s is not created by the migrations", table)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	names := schemas.NamesFor("x")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"postgres without pool", PostgresConfig{Pool: nil, Names: names, Kafka: kafkaOpts()}.Validate(), "Pool is required"},
		{"postgres nothing", PostgresConfig{}.Validate(), "Names are required"},
		{"clickhouse no rules", ClickHouseConfig{Names: names, Kafka: kafkaOpts()}.Validate(), "Rules are required"},
		{"replay bad view", ReplayConfig{View: "everything"}.Validate(), "view must be"},
		{"replay rooms without pool", ReplayConfig{View: ViewRooms, Names: names, Kafka: kafkaOpts()}.Validate(), "PostgreSQL pool"},
		{"replay history without rules", ReplayConfig{View: ViewHistory, Names: names, Kafka: kafkaOpts()}.Validate(), "ClickHouse connection and rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", tc.err, tc.want)
			}
		})
	}
}

func TestMetricsSharedByProjectors(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, b := newMetrics(reg), newMetrics(reg)
	a.errors.WithLabelValues("postgres", "apply").Inc()
	b.errors.WithLabelValues("clickhouse", "flush").Inc()
	if a.errors != b.errors {
		t.Error("the second projector did not reuse the registered metrics")
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mf {
		if f.GetName() == "happychat_projector_errors_total" && len(f.GetMetric()) != 2 {
			t.Errorf("errors_total has %d series, want 2", len(f.GetMetric()))
		}
	}
}

func encodeRecord(t *testing.T, topic string, p int32, off int64, env schemas.Envelope) feed.Record {
	t.Helper()
	env.OccurredAt = time.UnixMilli(1795000000000).UTC()
	v, err := schemas.Events.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	return feed.DecodeRecord(schemas.Events, topic, p, off, []byte("k"), v)
}

// TestClickHouseBuffer: the ClickHouse sink turns records into rows (a
// message row and an index row per message, an index row per other room
// event, a dead letter and an index row per poison record), and drops
// exactly the rows of revoked partitions.
func TestClickHouseBuffer(t *testing.T) {
	names := schemas.NamesFor("x")
	rules := rulesWith(t, "darn")
	s := &chSink{rules: rules, rooms: names.Rooms, tables: liveTables,
		flushEvery: 200 * time.Millisecond, m: newMetrics(nil), log: testLog(t)}
	recs := []feed.Record{
		encodeRecord(t, names.Rooms, 0, 10, schemas.Envelope{ID: 100, RoomID: 1, Seq: 1, Payload: schemas.RoomCreated{Title: "a"}}),
		encodeRecord(t, names.Rooms, 0, 11, schemas.Envelope{ID: 101, RoomID: 1, UserID: 5, Seq: 2,
			Payload: schemas.MessageSent{Text: "darn it, congrats", ClientMsgID: "c", Nickname: "n"}}),
		feed.DecodeRecord(schemas.Events, names.Rooms, 1, 7, nil, []byte("{not json")),
		encodeRecord(t, names.Rooms, 1, 8, schemas.Envelope{ID: 102, UserID: 5, Payload: schemas.UserRegistered{Nickname: "misplaced"}}),
		encodeRecord(t, names.Users, 0, 3, schemas.Envelope{ID: 103, UserID: 5, Payload: schemas.UserRegistered{Nickname: "ignored"}}),
	}
	if err := s.Apply(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	n, due := s.Pending()
	if n != 4 || due.IsZero() {
		t.Fatalf("pending %d due %v, want 4 records and a deadline", n, due)
	}
	if len(s.buf.msgs) != 1 || s.buf.msgs[0].body != rules.Soften("darn it, congrats") || s.buf.msgs[0].body == s.buf.msgs[0].text ||
		!slices.Equal(s.buf.msgs[0].effects, []string{"balloons"}) ||
		s.buf.msgs[0].text != "darn it, congrats" || s.buf.msgs[0].partition != 0 || s.buf.msgs[0].offset != 11 {
		t.Errorf("message row %+v", s.buf.msgs)
	}
	if len(s.buf.dead) != 2 {
		t.Errorf("%d dead letters, want 2", len(s.buf.dead))
	}
	for _, e := range s.buf.events {
		if e.partition == 1 && (e.roomID != 0 || e.typ != deadLetterType || e.seq != 1<<40|uint64(e.offset)) {
			t.Errorf("index row of a dead letter: %+v", e)
		}
	}
	s.Drop(map[string][]int32{names.Rooms: {1}})
	if n, _ := s.Pending(); n != 2 || len(s.buf.dead) != 0 || len(s.buf.msgs) != 1 {
		t.Errorf("after dropping partition 1: pending %d, %d dead letters, %d messages", n, len(s.buf.dead), len(s.buf.msgs))
	}
	s.Reset()
	if n, due := s.Pending(); n != 0 || !due.IsZero() {
		t.Errorf("after reset: pending %d due %v", n, due)
	}
}

func TestDecodeRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		value  string
		poison bool
	}{
		{"garbage", "\x00{", true},
		{"unknown type", `{"id":"1","type":"room.exploded","version":1,"room_id":"1","seq":1,"occurred_at":"2026-01-01T00:00:00.000Z","payload":{}}`, true},
		{"future version", `{"id":"1","type":"room.approved","version":9,"room_id":"1","seq":1,"occurred_at":"2026-01-01T00:00:00.000Z","payload":{}}`, true},
		{"valid", `{"id":"1","type":"room.approved","version":1,"room_id":"1","seq":1,"occurred_at":"2026-01-01T00:00:00.000Z","payload":{}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := feed.DecodeRecord(schemas.Events, "t", 0, 1, nil, []byte(tc.value))
			if (r.Err != nil) != tc.poison {
				t.Fatalf("err %v, poison %v", r.Err, tc.poison)
			}
			if r.Err != nil && !errors.Is(r.Err, schemas.ErrDecode) {
				t.Errorf("poison error %v does not wrap schemas.ErrDecode", r.Err)
			}
		})
	}
}

func TestReplayProgressSnapshot(t *testing.T) {
	tp := feed.TP{Topic: "r", Partition: 0}
	tr := &tracker{view: ViewHistory, start: time.Now().Add(-2 * time.Second), running: "replaying", ph: "replaying",
		target: map[feed.TP]int64{tp: 1000}, begin: map[feed.TP]int64{tp: 0},
		pos: map[feed.TP]int64{tp: 400}, hwm: map[feed.TP]int64{tp: 1200}}
	tr.samples = []sample{{at: time.Now().Add(-time.Second), events: 0}}
	tr.events.Store(400)
	p := tr.snapshot()
	if p.Target != 1000 || p.Lag != 800 || p.Events != 400 {
		t.Errorf("snapshot %+v: want target 1000, lag 800 (to the high watermark), events 400", p)
	}
	if p.Rate < 300 || p.Rate > 500 || p.ETA < time.Second || p.ETA > 3*time.Second {
		t.Errorf("rate %.0f/s and ETA %s: want about 400/s and 2s", p.Rate, p.ETA)
	}
	tr.ph = "done"
	if p := tr.snapshot(); p.Lag != 0 || p.ETA != 0 {
		t.Errorf("done: lag %d ETA %s, want 0", p.Lag, p.ETA)
	}
	tr.mu.Lock()
	tr.pos[tp] = 1000
	tr.mu.Unlock()
	if !tr.caughtUp() {
		t.Error("not caught up at the target")
	}
}
