package projector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// readers query the live views without pause and count what goes wrong: a
// replay must never make a query fail or see the views empty.
type readers struct {
	queries, failures atomic.Int64
	mu                sync.Mutex
	errs              []error
}

func (r *readers) fail(err error) {
	r.failures.Add(1)
	r.mu.Lock()
	if len(r.errs) < 5 {
		r.errs = append(r.errs, err)
	}
	r.mu.Unlock()
}

func startReaders(t *testing.T, st stores) *readers {
	t.Helper()
	r := &readers{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var room int64
	if err := st.pg.QueryRow(ctx, "SELECT room_id FROM rooms ORDER BY member_count DESC LIMIT 1").Scan(&room); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL, through prepared statements (pgx caches them per
	// connection): they must follow the switch to the new tables.
	wg.Go(func() {
		for ctx.Err() == nil {
			var rooms int
			err := st.pg.QueryRow(ctx, "SELECT count(*) FROM rooms WHERE status = $1", "open").Scan(&rooms)
			if err == nil && rooms == 0 {
				err = errors.New("no open rooms")
			}
			if err == nil {
				var rows pgx.Rows
				rows, err = st.pg.Query(ctx, "SELECT user_id, nickname, joined_at FROM members WHERE room_id = $1 AND left_at IS NULL", room)
				if err == nil {
					rows.Close()
					err = rows.Err()
				}
			}
			if ctx.Err() != nil {
				return
			}
			r.queries.Add(1)
			if err != nil {
				r.fail(err)
			}
		}
	})
	// ClickHouse.
	wg.Go(func() {
		for ctx.Err() == nil {
			var n uint64
			err := st.ch.QueryRow(ctx, "SELECT count() FROM messages WHERE room_id = ?", uint64(room)).Scan(&n)
			if err == nil {
				var total uint64
				err = st.ch.QueryRow(ctx, "SELECT count() FROM messages").Scan(&total)
				if err == nil && total == 0 {
					err = errors.New("no messages")
				}
			}
			if ctx.Err() != nil {
				return
			}
			r.queries.Add(1)
			if err != nil {
				r.fail(err)
			}
		}
	})
	return r
}

// TestReplay: a replay of all views, run while events keep arriving and
// queries keep reading, ends with views equal to those of projectors that
// never replayed (and to the fold); no query failed or saw empty views.
// Then, after a restart of the projectors with a new word list, replaying
// the history re-softens every message.
func TestReplay(t *testing.T) {
	needServers(t)
	names := newTopics(t, 4, 2)
	// The reference: the same log projected by projectors that never replay
	// (their own consumer groups).
	refNames := names
	refNames.ProjectorPostgresGroup += ".ref"
	refNames.ProjectorClickHouseGroup += ".ref"
	st, ref := newStores(t), newStores(t)
	rules := rulesWith(t, "darn")
	prod := newProducer(t)
	g := newGen(names, uint64(time.Now().UnixNano()))
	produce(t, prod, g.run(3000, churn))
	produce(t, prod, g.run(6000, chatty))
	stopLive := startProjectors(t, names, st, rules, nil)
	startProjectors(t, refNames, ref, rules, nil)
	waitCaughtUp(t, names, st, 60*time.Second)

	rd := startReaders(t, st)
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		for range 8 {
			produce(t, prod, g.run(300, churn))
			time.Sleep(150 * time.Millisecond)
		}
	}()
	var progress atomic.Int64
	var sawPhases sync.Map
	results, err := Replay(context.Background(), ReplayConfig{
		View: ViewAll, Kafka: kafkaOpts(), Names: names, Pool: st.pg, ClickHouse: st.ch, Rules: rules,
		Log: testLog(t), ProgressEvery: 50 * time.Millisecond, PGBatch: 700, CHBatch: 2000,
		Progress: func(p ReplayProgress) {
			progress.Add(1)
			sawPhases.Store(p.View+"/"+p.Phase, true)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	<-trafficDone
	for _, r := range results {
		t.Logf("replayed %s: %d events in %s (%.0f/s), %d dead letters, switch %s",
			r.View, r.Events, r.Elapsed, r.Rate(), r.DeadLetters, r.Switch)
		if r.Events == 0 {
			t.Errorf("%s: replay applied nothing", r.View)
		}
	}
	for _, k := range []string{"rooms/done", "history/done", "rooms/switching", "history/switching"} {
		if _, ok := sawPhases.Load(k); !ok {
			t.Errorf("no progress report for %s", k)
		}
	}
	waitCaughtUp(t, names, st, 60*time.Second)
	waitCaughtUp(t, refNames, ref, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // a few more reads after the switch
	if n := rd.failures.Load(); n > 0 {
		t.Errorf("%d of %d queries failed during the replay: %v", n, rd.queries.Load(), rd.errs)
	}
	t.Logf("%d queries during the replay, %d progress reports", rd.queries.Load(), progress.Load())

	ctx := context.Background()
	got, err := readViews(ctx, st.pg)
	if err != nil {
		t.Fatal(err)
	}
	want, err := readViews(ctx, ref.pg)
	if err != nil {
		t.Fatal(err)
	}
	diffViews(t, want, got)
	gotH, err := readHistory(ctx, st.ch)
	if err != nil {
		t.Fatal(err)
	}
	wantH, err := readHistory(ctx, ref.ch)
	if err != nil {
		t.Fatal(err)
	}
	if gotH != wantH {
		t.Errorf("history after replay %+v, never replayed %+v", gotH, wantH)
	}
	checkFold(t, names, st, g, rules)

	// A new word list: restart the projectors with it, then replay the
	// history alone.
	stopLive()
	rules2 := rulesWith(t, "darn", "hello")
	startProjectors(t, names, st, rules2, nil)
	produce(t, prod, g.run(500, chatty))
	if _, err := Replay(ctx, ReplayConfig{View: ViewHistory, Kafka: kafkaOpts(), Names: names,
		ClickHouse: st.ch, Rules: rules2, Log: testLog(t)}); err != nil {
		t.Fatal(err)
	}
	produce(t, prod, g.run(500, chatty))
	waitCaughtUp(t, names, st, 60*time.Second)
	checkSoftened(t, st, rules2)
	checkFold(t, names, st, g, rules2)
}
