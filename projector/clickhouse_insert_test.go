package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// The history sink's inserts against a fake ClickHouse (clickhouse_fake_test.go):
// the order of the tables, the pipelined Flush and its retries, the epoch
// checks that notice a replay's table swap, and the positions Resume reads.
// The real server is exercised by the integration tests.

const testRooms = "rooms"

func historySink(conn *fakeCH, rules Rules) *chSink {
	return &chSink{conn: conn, rules: rules, rooms: testRooms, tables: liveTables, flushEvery: time.Minute,
		m: newMetrics(nil), log: slog.New(slog.DiscardHandler), name: chProjectorName}
}

// bounded is the context of a sink call: a call that would wait forever
// (an insert whose outcome is never collected) fails the test instead.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// resumedSink returns a live sink over conn that has resumed the rooms
// topic, so it knows the tables' epoch.
func resumedSink(t *testing.T, conn *fakeCH, rules Rules) *chSink {
	t.Helper()
	s := historySink(conn, rules)
	if _, err := s.Resume(bounded(t), map[string][]int32{testRooms: {0, 1}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// mustApply buffers recs.
func mustApply(t *testing.T, s *chSink, recs ...feed.Record) {
	t.Helper()
	if err := s.Apply(bounded(t), recs); err != nil {
		t.Fatal(err)
	}
}

// mustInsert flushes what is buffered and waits for the insert.
func mustInsert(t *testing.T, s *chSink) {
	t.Helper()
	if err := s.Flush(bounded(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(bounded(t)); err != nil {
		t.Fatal(err)
	}
}

func roomCreated(t *testing.T, part int32, off int64, id schemas.ID) feed.Record {
	return encodeRecord(t, testRooms, part, off, schemas.Envelope{ID: id, RoomID: 1, Seq: 1, Payload: schemas.RoomCreated{Title: "a"}})
}

func messageRec(t *testing.T, part int32, off int64, id schemas.ID, text string) feed.Record {
	return encodeRecord(t, testRooms, part, off, schemas.Envelope{ID: id, RoomID: 1, UserID: 5, Seq: 2,
		Payload: schemas.MessageSent{Text: text, ClientMsgID: "c", Nickname: "n"}})
}

func poisonRec(part int32, off int64) feed.Record {
	return feed.DecodeRecord(schemas.Events, testRooms, part, off, []byte("k"), []byte("{not json"))
}

// column returns column i of every insert into table, concatenated.
func column[T any](t *testing.T, conn *fakeCH, table string, i int) []T {
	t.Helper()
	var out []T
	for _, in := range conn.done(table) {
		v, ok := in.columns[i].([]T)
		if !ok {
			t.Fatalf("%s column %d is %T", table, i, in.columns[i])
		}
		out = append(out, v...)
	}
	return out
}

func samples(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestClickHouseInsertOrder(t *testing.T) {
	tests := []struct {
		name      string
		recs      func(t *testing.T) []feed.Record
		tables    []string // inserted, in order
		eventIDs  []uint64
		dead      float64
		delaySeen uint64
	}{
		{"messages, dead letters, then the index",
			func(t *testing.T) []feed.Record {
				return []feed.Record{roomCreated(t, 0, 10, 100), messageRec(t, 0, 11, 101, "darn, congrats"), poisonRec(1, 7)}
			},
			[]string{"messages", "dead_letters", "room_events"}, []uint64{100, 101, 0}, 1, 2},
		{"no messages, no dead letters: the index alone",
			func(t *testing.T) []feed.Record { return []feed.Record{roomCreated(t, 0, 10, 100)} },
			[]string{"room_events"}, []uint64{100}, 0, 1},
		{"only a dead letter",
			func(*testing.T) []feed.Record { return []feed.Record{poisonRec(1, 7)} },
			[]string{"dead_letters", "room_events"}, []uint64{0}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeCH("3")
			s := resumedSink(t, conn, rulesWith(t, "darn"))
			mustApply(t, s, tt.recs(t)...)
			if err := s.Flush(bounded(t)); err != nil {
				t.Fatal(err)
			}
			if n, due := s.Pending(); n != 0 || !due.IsZero() {
				t.Fatalf("after Flush: %d pending, due %v", n, due)
			}
			if err := s.Sync(bounded(t)); err != nil {
				t.Fatal(err)
			}
			if got := conn.tried(); !slices.Equal(got, tt.tables) {
				t.Fatalf("inserted %v, want %v", got, tt.tables)
			}
			if got := column[uint64](t, conn, "room_events", 2); !slices.Equal(got, tt.eventIDs) {
				t.Errorf("room_events ids %v, want %v", got, tt.eventIDs)
			}
			for _, e := range column[uint64](t, conn, "room_events", 9) {
				if e != 3 {
					t.Errorf("room_events epoch %d, want 3", e)
				}
			}
			for _, e := range column[uint64](t, conn, "dead_letters", 7) {
				if e != 3 {
					t.Errorf("dead_letters epoch %d, want 3", e)
				}
			}
			// A batch without dead letters leaves the counter without a
			// series (WithLabelValues below would create it).
			if got, want := testutil.CollectAndCount(s.m.dead), min(int(tt.dead), 1); got != want {
				t.Errorf("%d dead letter series, want %d", got, want)
			}
			if got := counter(s.m.dead.WithLabelValues(chProjectorName)); got != tt.dead {
				t.Errorf("dead letters counted %v, want %v", got, tt.dead)
			}
			if got := samples(t, s.m.delay.WithLabelValues(chProjectorName)); got != tt.delaySeen {
				t.Errorf("delay samples %d, want %d (the room events)", got, tt.delaySeen)
			}
			// Nothing buffered: the next Flush inserts nothing.
			if err := s.Flush(bounded(t)); err != nil || len(conn.tried()) != len(tt.tables) {
				t.Fatalf("empty Flush: %v, inserted %v", err, conn.tried())
			}
		})
	}
}

// TestClickHouseMessageColumns: the body is the softened text and effects
// are never NULL (an empty array when the rules name none).
func TestClickHouseMessageColumns(t *testing.T) {
	conn := newFakeCH("3")
	rules := rulesWith(t, "darn")
	s := resumedSink(t, conn, rules)
	texts := []string{"darn, congrats", "plain"}
	mustApply(t, s, messageRec(t, 0, 1, 101, texts[0]), messageRec(t, 0, 2, 102, texts[1]))
	mustInsert(t, s)
	if got := column[uint64](t, conn, "messages", 1); !slices.Equal(got, []uint64{101, 102}) {
		t.Fatalf("message ids %v", got)
	}
	gotText, gotBody := column[string](t, conn, "messages", 5), column[string](t, conn, "messages", 6)
	effects := column[[]string](t, conn, "messages", 7)
	for i, text := range texts {
		if gotText[i] != text || gotBody[i] != rules.Soften(text) {
			t.Errorf("message %d: text %q body %q, want %q and %q", i, gotText[i], gotBody[i], text, rules.Soften(text))
		}
	}
	if !slices.Equal(effects[0], []string{"balloons"}) || effects[1] == nil || len(effects[1]) != 0 {
		t.Errorf("effects %#v, want [balloons] and an empty array", effects)
	}
}

// TestClickHouseFailedInsertRetriedFirst: a failed insert is reported by
// the next Flush or Sync, its rows are kept, and they are inserted again
// before anything newer.
func TestClickHouseFailedInsertRetriedFirst(t *testing.T) {
	for _, reporter := range []string{"Flush", "Sync"} {
		t.Run("reported by "+reporter, func(t *testing.T) {
			conn := newFakeCH("3")
			s := resumedSink(t, conn, rulesWith(t))
			down := errors.New("ClickHouse is down")
			conn.failInsert("room_events", down)
			mustApply(t, s, messageRec(t, 0, 1, 101, "one"))
			if err := s.Flush(bounded(t)); err != nil {
				t.Fatalf("Flush starts the insert and returns: %v", err)
			}
			mustApply(t, s, messageRec(t, 0, 2, 202, "two"))
			var err error
			if reporter == "Flush" {
				err = s.Flush(bounded(t))
			} else {
				err = s.Sync(bounded(t))
			}
			if !errors.Is(err, down) {
				t.Fatalf("%s = %v, want the failed insert's error", reporter, err)
			}
			if n, _ := s.Pending(); n != 1 {
				t.Fatalf("%d records pending, want the newer one", n)
			}
			mustInsert(t, s)
			if got := column[uint64](t, conn, "room_events", 2); !slices.Equal(got, []uint64{101, 202}) {
				t.Fatalf("indexed %v, want 101 (retried) before 202", got)
			}
			want := []string{"messages", "room_events", "messages", "room_events", "messages", "room_events"}
			if got := conn.tried(); !slices.Equal(got, want) {
				t.Fatalf("inserts tried %v, want %v", got, want)
			}
			if got := samples(t, s.m.delay.WithLabelValues(chProjectorName)); got != 2 {
				t.Errorf("delay samples %d, want 2 (a failed insert commits nothing)", got)
			}
		})
	}
}

// TestClickHouseEpoch: a replay swaps the history tables and bumps the
// epoch; a live sink notices on Resume, Flush or Verify, drops what it
// buffered and asks the feed to resume from the new tables. A replay's own
// sink writes its fixed epoch.
func TestClickHouseEpoch(t *testing.T) {
	parts := map[string][]int32{testRooms: {0}}
	tests := []struct {
		name  string
		fixed *uint64
		run   func(t *testing.T, s *chSink, conn *fakeCH) error
		want  error
		kept  int // records still pending
	}{
		{"Flush after a swap", nil, func(t *testing.T, s *chSink, conn *fakeCH) error {
			conn.setEpoch("4")
			return s.Flush(bounded(t))
		}, feed.ErrRestart, 0},
		{"Flush without a Resume", nil, func(t *testing.T, s *chSink, _ *fakeCH) error {
			s.Reset()
			mustApply(t, s, roomCreated(t, 0, 10, 100))
			return s.Flush(bounded(t))
		}, feed.ErrRestart, 0},
		{"a Resume that saw a swap", nil, func(t *testing.T, s *chSink, conn *fakeCH) error {
			conn.setEpoch("4")
			if _, err := s.Resume(bounded(t), parts); err != nil {
				return err
			}
			return s.Flush(bounded(t))
		}, feed.ErrRestart, 0},
		{"Resume again, same epoch", nil, func(t *testing.T, s *chSink, _ *fakeCH) error {
			if _, err := s.Resume(bounded(t), parts); err != nil {
				return err
			}
			return s.Flush(bounded(t))
		}, nil, 0},
		{"Verify after a swap", nil, func(t *testing.T, s *chSink, conn *fakeCH) error {
			conn.setEpoch("4")
			return s.Verify(bounded(t))
		}, feed.ErrRestart, 0},
		{"Verify, same epoch", nil, func(t *testing.T, s *chSink, _ *fakeCH) error {
			return s.Verify(bounded(t))
		}, nil, 1},
		{"a replay's sink ignores the live epoch", ptr(uint64(7)), func(t *testing.T, s *chSink, conn *fakeCH) error {
			conn.setEpoch("9")
			if err := s.Verify(bounded(t)); err != nil {
				return err
			}
			return s.Flush(bounded(t))
		}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeCH("3")
			s := historySink(conn, rulesWith(t))
			s.fixedEpoch = tt.fixed
			if _, err := s.Resume(bounded(t), parts); err != nil {
				t.Fatal(err)
			}
			mustApply(t, s, roomCreated(t, 0, 10, 100))
			if err := tt.run(t, s, conn); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if n, _ := s.Pending(); n != tt.kept {
				t.Fatalf("%d records pending, want %d", n, tt.kept)
			}
			if err := s.Sync(bounded(t)); err != nil {
				t.Fatal(err)
			}
			wantEpoch := uint64(3)
			if tt.fixed != nil {
				wantEpoch = *tt.fixed
			}
			for _, e := range column[uint64](t, conn, "room_events", 9) {
				if e != wantEpoch {
					t.Errorf("inserted under epoch %d, want %d", e, wantEpoch)
				}
			}
			if tt.want != nil && len(conn.tried()) != 0 {
				t.Errorf("inserted %v into swapped tables", conn.tried())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestClickHouseResumePositions(t *testing.T) {
	tests := []struct {
		name      string
		epoch     string
		fixed     *uint64
		positions [][2]uint64
		parts     map[string][]int32
		want      map[string]map[int32]int64
		wantEpoch uint64
	}{
		{"the next offset of each asked partition of the rooms topic", "3", nil, [][2]uint64{{0, 41}, {2, 9}, {5, 1}},
			map[string][]int32{testRooms: {0, 1, 2}, "users": {0}}, map[string]map[int32]int64{testRooms: {0: 42, 2: 10}}, 3},
		{"nothing stored yet", "3", nil, nil, map[string][]int32{testRooms: {0}}, map[string]map[int32]int64{}, 3},
		{"no epoch row yet: epoch 0", "", nil, [][2]uint64{{0, 0}},
			map[string][]int32{testRooms: {0}}, map[string]map[int32]int64{testRooms: {0: 1}}, 0},
		{"a replay reads its own epoch", "3", ptr(uint64(7)), [][2]uint64{{1, 99}},
			map[string][]int32{testRooms: {1}}, map[string]map[int32]int64{testRooms: {1: 100}}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeCH(tt.epoch)
			conn.positions = tt.positions
			s := historySink(conn, rulesWith(t))
			s.fixedEpoch = tt.fixed
			got, err := s.Resume(bounded(t), tt.parts)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(got, tt.want, maps.Equal) {
				t.Fatalf("Resume = %v, want %v", got, tt.want)
			}
			if !slices.Equal(conn.posArgs, []any{tt.wantEpoch}) {
				t.Fatalf("positions read under %v, want epoch %d", conn.posArgs, tt.wantEpoch)
			}
		})
	}
	t.Run("positions unreadable", func(t *testing.T) {
		conn := newFakeCH("3")
		down := errors.New("down")
		conn.failQuery = down
		if _, err := historySink(conn, rulesWith(t)).Resume(bounded(t), map[string][]int32{testRooms: {0}}); !errors.Is(err, down) {
			t.Fatalf("err %v, want %v", err, down)
		}
	})
}

// TestClickHouseFlushDeadline: the first record of a batch sets when it
// must be flushed; later records do not postpone it.
func TestClickHouseFlushDeadline(t *testing.T) {
	s := historySink(newFakeCH("3"), rulesWith(t))
	if n, due := s.Pending(); n != 0 || !due.IsZero() {
		t.Fatalf("empty: %d pending, due %v", n, due)
	}
	before := time.Now()
	mustApply(t, s, roomCreated(t, 0, 10, 100))
	_, due := s.Pending()
	if due.Before(before.Add(s.flushEvery)) || due.After(time.Now().Add(s.flushEvery)) {
		t.Fatalf("due %v, want flushEvery after the first record", due)
	}
	time.Sleep(5 * time.Millisecond)
	mustApply(t, s, messageRec(t, 0, 11, 101, "x"), poisonRec(0, 12))
	if n, later := s.Pending(); n != 3 || !later.Equal(due) {
		t.Fatalf("%d pending due %v, want 3 due %v (the first record's)", n, later, due)
	}
}

// TestClickHouseDropEverything: dropping every buffered partition leaves
// nothing pending, and the dropped records are not counted in the delay of
// the next insert.
func TestClickHouseDropEverything(t *testing.T) {
	conn := newFakeCH("3")
	s := resumedSink(t, conn, rulesWith(t))
	mustApply(t, s, roomCreated(t, 0, 10, 100), messageRec(t, 1, 5, 101, "x"))
	s.Drop(map[string][]int32{"users": {0, 1}})
	if n, _ := s.Pending(); n != 2 {
		t.Fatalf("dropping another topic's partitions: %d pending, want 2", n)
	}
	s.Drop(map[string][]int32{testRooms: {0, 1}})
	if n, due := s.Pending(); n != 0 || !due.IsZero() {
		t.Fatalf("after dropping every partition: %d pending, due %v", n, due)
	}
	mustApply(t, s, roomCreated(t, 0, 20, 200))
	mustInsert(t, s)
	if got := column[uint64](t, conn, "room_events", 2); !slices.Equal(got, []uint64{200}) {
		t.Fatalf("indexed %v, want only 200", got)
	}
	if got := samples(t, s.m.delay.WithLabelValues(chProjectorName)); got != 1 {
		t.Fatalf("delay samples %d, want 1 (dropped records are not delivered)", got)
	}
}

// TestClickHouseSoftenInParallel: a large batch is softened on several
// CPUs; every message gets its body and effects.
func TestClickHouseSoftenInParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rules := rulesWith(t, "darn")
	for _, procs := range []int{1, 2, 3} {
		for _, n := range []int{softenParallel - 1, softenParallel, 2*softenParallel + 1} {
			t.Run(fmt.Sprintf("%d CPUs, %d messages", procs, n), func(t *testing.T) {
				runtime.GOMAXPROCS(procs)
				s := historySink(newFakeCH("3"), rules)
				recs := make([]feed.Record, n)
				for i := range recs {
					env := schemas.Envelope{ID: schemas.ID(1000 + i), RoomID: 1, UserID: 5, Seq: int64(i + 1),
						OccurredAt: time.UnixMilli(1795000000000).UTC(),
						Payload:    schemas.MessageSent{Text: fmt.Sprintf("darn %d, congrats", i), ClientMsgID: "c", Nickname: "n"}}
					recs[i] = feed.Record{Topic: testRooms, Offset: int64(i), Env: env}
				}
				mustApply(t, s, recs...)
				if len(s.buf.msgs) != n {
					t.Fatalf("%d message rows, want %d", len(s.buf.msgs), n)
				}
				for i, m := range s.buf.msgs {
					if m.body != rules.Soften(m.text) || m.body == m.text || !slices.Equal(m.effects, []string{"balloons"}) {
						t.Fatalf("message %d: body %q effects %v", i, m.body, m.effects)
					}
				}
			})
		}
	}
}

// TestClickHouseDueFromTheFirstRecord: buffered records are due flushEvery
// after the first of them was buffered, however many follow; once a Drop
// empties the buffer, the times kept for the delay metric go too.
func TestClickHouseDueFromTheFirstRecord(t *testing.T) {
	s := historySink(newFakeCH("3"), rulesWith(t, "darn"))
	mustApply(t, s, roomCreated(t, 0, 10, 100))
	_, due := s.Pending()
	mustApply(t, s, messageRec(t, 1, 11, 101, "hi"))
	mustApply(t, s, messageRec(t, 1, 12, 102, "hi"))
	if n, again := s.Pending(); n != 3 || !again.Equal(due) {
		t.Errorf("after more records: %d pending due %v, want 3 due %v (the first record's)", n, again, due)
	}
	s.Drop(map[string][]int32{testRooms: {1}})
	if n, _ := s.Pending(); n != 1 || len(s.buf.occurred) != 3 {
		t.Errorf("after dropping partition 1: %d pending, %d times kept; want 1, 3", n, len(s.buf.occurred))
	}
	s.Drop(map[string][]int32{"users": {0}})
	if n, _ := s.Pending(); n != 1 {
		t.Errorf("dropping another topic's partition left %d pending, want 1", n)
	}
	s.Drop(map[string][]int32{testRooms: {0}})
	if n, due := s.Pending(); n != 0 || !due.IsZero() || len(s.buf.occurred) != 0 {
		t.Errorf("after dropping everything: %d pending due %v, %d times kept", n, due, len(s.buf.occurred))
	}
}

// TestSoftenRuns: messages are softened in one run below softenParallel or
// on one CPU, otherwise in one contiguous run per CPU, each as long as the
// first but the last, together covering every message once.
func TestSoftenRuns(t *testing.T) {
	p := softenParallel
	for _, tt := range []struct {
		n, workers int
		want       [][2]int
	}{
		{0, 4, [][2]int{{0, 0}}},
		{p - 1, 4, [][2]int{{0, p - 1}}},
		{p, 1, [][2]int{{0, p}}},
		{p, 2, [][2]int{{0, p / 2}, {p / 2, p}}},
		{p + 1, 2, [][2]int{{0, p/2 + 1}, {p/2 + 1, p + 1}}},
		{p + 1, 3, [][2]int{{0, 667}, {667, 1334}, {1334, p + 1}}},
		{p, 3, [][2]int{{0, 667}, {667, 1334}, {1334, p}}},
	} {
		if got := softenRuns(tt.n, tt.workers); !slices.Equal(got, tt.want) {
			t.Errorf("softenRuns(%d, %d CPUs) = %v, want %v", tt.n, tt.workers, got, tt.want)
		}
	}
}
