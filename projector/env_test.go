package projector

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/chtest"
	"happychat/internal/pgtest"
	"happychat/internal/testenv"
	"happychat/schemas"
)

// Integration tests run against the real servers of deploy/local (or
// those named by the environment). Each test gets its own topics, its own
// PostgreSQL database and its own ClickHouse database.

// needServers skips the test under -short, and when a server is down skips
// it (or fails it when CI is set), naming the server.
func needServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Kafka, PostgreSQL and ClickHouse")
	}
	u, err := url.Parse(testenv.PGURL())
	if err != nil {
		t.Fatalf("PG_URL: %v", err)
	}
	for name, addr := range map[string]string{
		"Kafka":      testenv.KafkaBrokers()[0],
		"PostgreSQL": u.Host,
		"ClickHouse": testenv.ClickHouseAddr(),
	} {
		testenv.Reach(t, name, addr)
	}
}

func testLog(t testing.TB) *slog.Logger {
	if v := os.Getenv("PROJECTOR_TEST_LOG"); v != "" {
		level := slog.LevelInfo
		if v == "debug" {
			level = slog.LevelDebug
		}
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	}
	_ = t
	return slog.New(slog.DiscardHandler)
}

func kafkaOpts() []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(testenv.KafkaBrokers()...), kgo.DialTimeout(5 * time.Second)}
}

// newTopics creates the rooms and users topics (and the features topic the
// projectors advertise on) under a fresh prefix and deletes them at the end
// of the test.
func newTopics(t testing.TB, roomParts, userParts int) schemas.Names {
	t.Helper()
	names := schemas.NamesFor(testenv.RandomName("t"))
	cl, err := kgo.NewClient(kafkaOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for topic, parts := range map[string]int{names.Rooms: roomParts, names.Users: userParts, names.Features: 1} {
		resp, err := adm.CreateTopic(ctx, int32(parts), 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, names.Rooms, names.Users, names.Features)
		_, _ = adm.DeleteGroups(ctx, names.ProjectorPostgresGroup, names.ProjectorClickHouseGroup)
		cl.Close()
	})
	return names
}

// newPG creates a database for the test, migrated, and drops it at the end.
func newPG(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return pgtest.Database(t, testenv.PGURL(), "test_")
}

// newCH creates a ClickHouse database for the test and drops it at the end.
func newCH(t testing.TB) (driver.Conn, string) {
	t.Helper()
	return chtest.Database(t, chOptions(testenv.ClickHouseAddr(), ""), "test_")
}

func openCH(t testing.TB, addr, db string) driver.Conn {
	t.Helper()
	opts := chOptions(addr, db)
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// chOptions are the ClickHouse connection settings of the projector tests:
// of the fresh database's connection and of those openCH opens.
func chOptions(addr, db string) clickhouse.Options {
	return clickhouse.Options{
		Addr: []string{addr}, Auth: clickhouse.Auth{Database: db},
		DialTimeout: 2 * time.Second, ReadTimeout: 30 * time.Second,
		MaxOpenConns: 8,
	}
}

// migrated returns a fresh PostgreSQL database and ClickHouse database with
// the migrations applied.
type stores struct {
	pg    *pgxpool.Pool
	pgURL string
	ch    driver.Conn
	chDB  string
}

func newStores(t testing.TB) stores {
	t.Helper()
	pg, pgu := newPG(t)
	ch, chdb := newCH(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := Migrate(ctx, pg, ch, testLog(t)); err != nil {
		t.Fatal(err)
	}
	return stores{pg: pg, pgURL: pgu, ch: ch, chDB: chdb}
}

// produce appends records synchronously and fails the test on any error.
func produce(t testing.TB, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for start := 0; start < len(recs); start += 5000 {
		end := min(start+5000, len(recs))
		if err := cl.ProduceSync(ctx, recs[start:end]...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

func newProducer(t testing.TB) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(kafkaOpts(),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
}

// pgCaughtUp reports whether the PostgreSQL projector's stored positions
// equal the end offsets of the topics.
func pgCaughtUp(ctx context.Context, pool *pgxpool.Pool, end map[string]map[int32]int64) (bool, error) {
	rows, err := pool.Query(ctx, "SELECT topic, partition, next_offset FROM projector_offsets WHERE projector = 'postgres'")
	if err != nil {
		return false, err
	}
	stored := map[string]map[int32]int64{}
	var topic string
	var p int32
	var off int64
	if _, err := pgx.ForEachRow(rows, []any{&topic, &p, &off}, func() error {
		if stored[topic] == nil {
			stored[topic] = map[int32]int64{}
		}
		stored[topic][p] = off
		return nil
	}); err != nil {
		return false, err
	}
	for topic, ps := range end {
		for p, e := range ps {
			if e > 0 && stored[topic][p] != e {
				return false, nil
			}
		}
	}
	return true, nil
}

// chCaughtUp reports whether the ClickHouse history holds every record of
// the rooms topic (max(offset)+1 = end offset per partition).
func chCaughtUp(ctx context.Context, conn driver.Conn, topic string, end map[string]map[int32]int64) (bool, error) {
	got, err := chPositions(ctx, conn)
	if err != nil {
		return false, err
	}
	for p, e := range end[topic] {
		if e > 0 && got[p] != e {
			return false, nil
		}
	}
	return true, nil
}

func chPositions(ctx context.Context, conn driver.Conn) (map[int32]int64, error) {
	epoch, err := chEpoch(ctx, conn)
	if err != nil {
		return nil, err
	}
	got := map[int32]int64{}
	for _, q := range []string{
		"SELECT partition, max(offset) FROM room_events WHERE epoch = ? GROUP BY partition",
	} {
		rows, err := conn.Query(ctx, q, epoch)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p uint32
			var off uint64
			if err := rows.Scan(&p, &off); err != nil {
				rows.Close()
				return nil, err
			}
			got[int32(p)] = max(got[int32(p)], int64(off)+1)
		}
		rows.Close()
	}
	return got, nil
}

// endOffsets lists the end offset of every partition of the topics.
func endOffsets(t testing.TB, topics ...string) map[string]map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kafkaOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// runInBackground runs fn until the test ends (or stop is called) and
// fails the test if it returns an error.
func runInBackground(t testing.TB, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("background run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("background run did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return stop
}
