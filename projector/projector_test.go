package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"happychat/schemas"
	"happychat/schemas/moderation"
)

// rulesWith returns the real moderation rules with extra words to soften
// and two effects.
func rulesWith(t testing.TB, words ...string) *moderation.Rules {
	t.Helper()
	r, err := moderation.New(words, map[string]string{"congrats": "balloons", "happy birthday": "confetti"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func startProjectors(t testing.TB, names schemas.Names, st stores, rules Rules, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	pg, err := NewPostgres(PostgresConfig{Pool: st.pg, Names: names, Kafka: kafkaOpts(), Log: testLog(t).With("p", "pg"), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := NewClickHouse(ClickHouseConfig{Conn: st.ch, Names: names, Kafka: kafkaOpts(), Rules: rules,
		Log: testLog(t).With("p", "ch"), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	stopPG := runInBackground(t, pg.Run)
	stopCH := runInBackground(t, ch.Run)
	return func() { stopPG(); stopCH() }
}

func waitCaughtUp(t testing.TB, names schemas.Names, st stores, timeout time.Duration) {
	t.Helper()
	end := endOffsets(t, names.Rooms, names.Users)
	ctx := context.Background()
	waitFor(t, timeout, "the PostgreSQL projector to reach the end of the log", func() (bool, error) {
		return pgCaughtUp(ctx, st.pg, end)
	})
	waitFor(t, timeout, "the ClickHouse projector to reach the end of the log", func() (bool, error) {
		return chCaughtUp(ctx, st.ch, names.Rooms, end)
	})
}

// TestViewsEqualFold: after random events (membership churn, messages, read
// marks, proposals, poison records, duplicates, events of unknown rooms),
// the PostgreSQL views equal the pure fold of the same log, and ClickHouse
// holds exactly its messages and room events; then again after more events
// arrive while the projectors run.
func TestViewsEqualFold(t *testing.T) {
	needServers(t)
	names := newTopics(t, 4, 2)
	st := newStores(t)
	prod := newProducer(t)
	g := newGen(names, uint64(time.Now().UnixNano()))
	produce(t, prod, g.run(3000, churn))
	reg := prometheus.NewRegistry()
	rules := rulesWith(t, "darn", "heck")
	startProjectors(t, names, st, rules, reg)
	waitCaughtUp(t, names, st, 60*time.Second)
	checkFold(t, names, st, g, rules)

	// More while running, in several appends so batches interleave.
	for range 5 {
		produce(t, prod, g.run(400, churn))
	}
	waitCaughtUp(t, names, st, 60*time.Second)
	checkFold(t, names, st, g, rules)

	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range mf {
		seen[f.GetName()] = true
	}
	for _, name := range []string{"happychat_projector_events_total", "happychat_projector_lag_records",
		"happychat_projector_batch_size", "happychat_projector_dead_letters_total", "happychat_projector_delay_seconds"} {
		if !seen[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
}

func checkFold(t *testing.T, names schemas.Names, st stores, g *gen, rules Rules) {
	t.Helper()
	ctx := context.Background()
	wantViews, wantHistory := fold(names, g.recs)
	gotViews, err := readViews(ctx, st.pg)
	if err != nil {
		t.Fatal(err)
	}
	diffViews(t, wantViews, gotViews)
	gotHistory, err := readHistory(ctx, st.ch)
	if err != nil {
		t.Fatal(err)
	}
	if gotHistory != wantHistory {
		t.Errorf("history: want %+v, got %+v", wantHistory, gotHistory)
	}
	// The softening is applied when projecting; the text stays raw.
	checkSoftened(t, st, rules)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("views: %d rooms, %d memberships, %d room messages, %d users, %d read marks, %d dead letters; history %+v",
		len(gotViews.Rooms), len(gotViews.Members), len(gotViews.RoomMessages), len(gotViews.Users), len(gotViews.ReadMarks),
		gotViews.DeadLetters, gotHistory)
}

// TestMigrateTwice: migrations are versioned and applied once; running them
// again (as every start does) changes nothing.
func TestMigrateTwice(t *testing.T) {
	needServers(t)
	st := newStores(t)
	ctx := context.Background()
	if err := Migrate(ctx, st.pg, st.ch, testLog(t)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.pg.QueryRow(ctx, "SELECT count(*) FROM projector_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	pgFiles, _ := loadMigrations("migrations/postgres")
	if n != len(pgFiles) {
		t.Errorf("postgres: %d migrations recorded, %d files", n, len(pgFiles))
	}
	var m uint64
	if err := st.ch.QueryRow(ctx, "SELECT count() FROM projector_migrations").Scan(&m); err != nil {
		t.Fatal(err)
	}
	chFiles, _ := loadMigrations("migrations/clickhouse")
	if int(m) != len(chFiles) {
		t.Errorf("clickhouse: %d migrations recorded, %d files", m, len(chFiles))
	}
	_ = fmt.Sprint()
}

// checkSoftened verifies that every message's body is its text softened by
// rules, effects included, and that the rows name the rules' version.
func checkSoftened(t *testing.T, st stores, rules Rules) {
	t.Helper()
	rows, err := st.ch.Query(context.Background(),
		"SELECT text, body, effects, rules_version, count() FROM messages FINAL GROUP BY text, body, effects, rules_version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var text, body, version string
		var effects []string
		var n uint64
		if err := rows.Scan(&text, &body, &effects, &version, &n); err != nil {
			t.Fatal(err)
		}
		want := rules.Effects(text)
		if body != rules.Soften(text) || version != rules.Version() || strings.Join(effects, ",") != strings.Join(want, ",") {
			t.Errorf("%d messages %q: body %q effects %v version %q; want %q %v %q",
				n, text, body, effects, version, rules.Soften(text), want, rules.Version())
		}
	}
}
