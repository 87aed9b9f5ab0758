package notifier

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"happychat/internal/pgtest"
	"happychat/internal/testenv"
	"happychat/schemas"
)

// storeService is a notifier on a fresh database with the projector's views
// (its migrations' SQL, applied in order: the notifier may not import the
// projector) and the notifier's tables.
func storeService(t *testing.T) *Service {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	pool, _ := pgtest.Database(t, testenv.PGURL(), "test_notifier_")
	ctx := context.Background()
	files, err := filepath.Glob("../migrations/postgres/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("the projector's migrations: %v (%d files)", err, len(files))
	}
	slices.Sort(files)
	for _, f := range files {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	s := &Service{cfg: Config{PG: pool}, log: slog.New(slog.DiscardHandler)}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// A poll's messages read their recipients in one query: each (room,
// sender) gets exactly what the one-pair query gave it.
func TestRecipientsOfSeveralRoomsAndSendersInOneQuery(t *testing.T) {
	s := storeService(t)
	ctx := context.Background()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := s.cfg.PG.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	const r1, r2 = 101, 102
	for _, r := range []int64{r1, r2} {
		exec(`INSERT INTO rooms (room_id, title, status, created_at, last_seq) VALUES ($1, 'room', 'open', now(), 10)`, r)
	}
	member := func(room, user, join int64, left bool) {
		exec(`INSERT INTO members (room_id, user_id, join_event_id, nickname, joined_at, left_at)
			VALUES ($1, $2, $3, 'n', now(), CASE WHEN $4 THEN now() END)`, room, user, join, left)
	}
	member(r1, 1, 1, false)
	member(r1, 2, 2, false)
	member(r1, 3, 3, false)
	member(r1, 4, 4, true) // left
	member(r2, 1, 5, false)
	member(r2, 5, 6, false)
	member(r2, 6, 7, true) // left, then back
	member(r2, 6, 8, false)
	for _, u := range []int64{2, 3, 4, 5, 6} { // 1 has no subscription
		exec(`INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth) VALUES ($1, $2, 'k', 'a')`, "https://push.example/"+schemas.ID(u).String(), u)
	}
	exec(`INSERT INTO push_mutes (user_id, room_id) VALUES (3, $1)`, r1)
	exec(`INSERT INTO push_watermarks (user_id, room_id, seq) VALUES (2, $1, 7)`, r1)
	exec(`INSERT INTO blocks (blocker, blocked, nickname, event_id, blocked_at) VALUES (5, 1, 'n', 9, now())`)

	pairs := map[roomSender]struct{}{{r1, 1}: {}, {r1, 2}: {}, {r2, 1}: {}, {r2, 6}: {}, {r2, 9}: {}}
	got, err := s.recipients(ctx, pairs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[roomSender][]recipient{
		{r1, 1}: {{user: 2, watermark: 7}, {user: 3, muted: true}}, // 4 left
		{r1, 2}: {{user: 3, muted: true}},                          // the sender aside; 1 has no subscription
		{r2, 1}: {{user: 6}},                                       // 5 blocks 1; 6's open membership once
		{r2, 6}: {{user: 5}},
		{r2, 9}: {{user: 5}, {user: 6}},
	}
	for p, w := range want {
		g := got[p]
		slices.SortFunc(g, func(a, b recipient) int { return int(a.user - b.user) })
		if !slices.Equal(g, w) {
			t.Errorf("recipients of room %d, sender %d: %+v, want %+v", p.room, p.sender, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("recipients for %d pairs, want %d: %+v", len(got), len(want), got)
	}
}

// The views of a poll's rooms are awaited together: viewsAt returns once
// every room shows the seq asked of it, with the rooms' titles.
func TestViewsAtWaitsForEveryRoom(t *testing.T) {
	s := storeService(t)
	ctx := context.Background()
	for _, r := range []struct {
		id    int64
		title string
	}{{201, "first"}, {202, "second"}} {
		if _, err := s.cfg.PG.Exec(ctx, `INSERT INTO rooms (room_id, title, status, created_at, last_seq) VALUES ($1, $2, 'open', now(), 5)`, r.id, r.title); err != nil {
			t.Fatal(err)
		}
	}
	var caughtUp atomic.Bool
	go func() {
		time.Sleep(300 * time.Millisecond)
		caughtUp.Store(true)
		_, _ = s.cfg.PG.Exec(ctx, `UPDATE rooms SET last_seq = 9 WHERE room_id = 202`)
	}()
	titles, err := s.viewsAt(ctx, map[schemas.ID]int64{201: 5, 202: 9})
	if err != nil {
		t.Fatal(err)
	}
	if !caughtUp.Load() {
		t.Fatal("viewsAt returned before room 202's view reached seq 9")
	}
	if titles[201] != "first" || titles[202] != "second" {
		t.Fatalf("titles %v", titles)
	}
}
