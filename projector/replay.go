package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// Views a replay can rebuild.
const (
	ViewRooms   = "rooms"   // the PostgreSQL views
	ViewHistory = "history" // the ClickHouse history
	ViewAll     = "all"
)

// ReplayConfig configures Replay.
type ReplayConfig struct {
	// View is ViewRooms, ViewHistory or ViewAll.
	View  string
	Kafka []kgo.Opt
	Names schemas.Names
	// Pool is required to rebuild the rooms views, ClickHouse and Rules the
	// history.
	Pool       *pgxpool.Pool
	ClickHouse driver.Conn
	Rules      Rules
	Log        *slog.Logger
	// Progress, if set, is called about every ProgressEvery (default 250 ms)
	// for each view being rebuilt, and once more when it is done.
	Progress      func(ReplayProgress)
	ProgressEvery time.Duration
	Registry      *schemas.Registry
	// PGBatch and CHBatch are the records per transaction and per insert
	// (defaults 5000 and 100000: a replay favours throughput over latency).
	PGBatch, CHBatch int
}

// ReplayProgress is a snapshot of one view's replay.
type ReplayProgress struct {
	View string
	// Phase is "replaying" (building the new tables), "switching",
	// "catching up" (bringing the switched-in tables to the end of the log)
	// or "done".
	Phase string
	// Events is the records applied so far; Target the records the log held
	// when the replay started; Lag the records between the replay's position
	// and the end of the log as last seen (it grows with live traffic).
	Events, Target, Lag int64
	// Rate is events per second over the last few seconds.
	Rate    float64
	Elapsed time.Duration
	// ETA is the estimated time left to reach the end of the log (0 if
	// unknown).
	ETA time.Duration
}

// ReplayResult summarises one view's replay.
type ReplayResult struct {
	View        string
	Events      int64
	DeadLetters int64
	Elapsed     time.Duration
	// Switch is how long the atomic switch to the new tables took (readers
	// wait at most that long).
	Switch time.Duration
}

// Rate is the average events per second of the replay.
func (r ReplayResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Events) / r.Elapsed.Seconds()
}

func (c *ReplayConfig) setDefaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 250 * time.Millisecond
	}
	if c.Registry == nil {
		c.Registry = schemas.Events
	}
	if c.PGBatch <= 0 {
		c.PGBatch = 5000
	}
	if c.CHBatch <= 0 {
		c.CHBatch = 100000
	}
}

// Validate reports every missing setting at once.
func (c ReplayConfig) Validate() error {
	var errs []error
	rooms, history := c.View == ViewRooms || c.View == ViewAll, c.View == ViewHistory || c.View == ViewAll
	if !rooms && !history {
		errs = append(errs, fmt.Errorf("replay: view must be %s, %s or %s, not %q", ViewRooms, ViewHistory, ViewAll, c.View))
	}
	if rooms && c.Pool == nil {
		errs = append(errs, errors.New("replay: the rooms views need a PostgreSQL pool"))
	}
	if history && (c.ClickHouse == nil || c.Rules == nil) {
		errs = append(errs, errors.New("replay: the history needs a ClickHouse connection and rules"))
	}
	if len(c.Kafka) == 0 || c.Names.Rooms == "" || c.Names.Users == "" {
		errs = append(errs, errors.New("replay: Kafka options and Names are required"))
	}
	return errors.Join(errs...)
}

// Replay rebuilds views from the start of the log into new tables while the
// live ones keep serving, then switches to the new tables atomically (a
// rename). The running projectors notice the switch and continue from the
// new tables' positions. With ViewAll both stores are rebuilt concurrently.
func Replay(ctx context.Context, cfg ReplayConfig) ([]ReplayResult, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var jobs []func() (ReplayResult, error)
	if cfg.View == ViewRooms || cfg.View == ViewAll {
		jobs = append(jobs, func() (ReplayResult, error) { return replayPostgres(ctx, cfg) })
	}
	if cfg.View == ViewHistory || cfg.View == ViewAll {
		jobs = append(jobs, func() (ReplayResult, error) { return replayClickHouse(ctx, cfg) })
	}
	results := make([]ReplayResult, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Go(func() { results[i], errs[i] = job() })
	}
	wg.Wait()
	return results, errors.Join(errs...)
}

// PostgreSQL schemas of a replay: the new views are built in replaySchema,
// the old ones parked in retiredSchema at the switch, then dropped.
const (
	replaySchema  = "projector_replay"
	retiredSchema = "projector_retired"
	// replayLockKey keeps two replays of the rooms views apart ("hcrp").
	replayLockKey = 0x68637270
)

func replayPostgres(ctx context.Context, cfg ReplayConfig) (ReplayResult, error) {
	start := time.Now()
	log := cfg.Log.With("view", ViewRooms)
	if err := Migrate(ctx, cfg.Pool, nil, log); err != nil {
		return ReplayResult{}, err
	}
	lock, err := cfg.Pool.Acquire(ctx)
	if err != nil {
		return ReplayResult{}, err
	}
	defer lock.Release()
	var got bool
	if err := lock.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(replayLockKey)).Scan(&got); err != nil {
		return ReplayResult{}, err
	}
	if !got {
		return ReplayResult{}, errors.New("another replay of the rooms views is running")
	}
	defer func() { _, _ = lock.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(replayLockKey)) }()

	var live string
	if err := cfg.Pool.QueryRow(ctx, "SELECT current_schema()").Scan(&live); err != nil {
		return ReplayResult{}, err
	}
	if err := pgx.BeginFunc(ctx, cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+replaySchema+" CASCADE; CREATE SCHEMA "+replaySchema); err != nil {
			return err
		}
		return createPostgresViews(ctx, tx, replaySchema)
	}); err != nil {
		return ReplayResult{}, fmt.Errorf("create the replay tables: %w", err)
	}
	pcfg := cfg.Pool.Config()
	pcfg.ConnConfig.RuntimeParams["search_path"] = replaySchema
	pcfg.MinConns = 0
	rpool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return ReplayResult{}, err
	}
	defer rpool.Close()

	topics := []string{cfg.Names.Rooms, cfg.Names.Users}
	// The new views record the identity of the log they are built from, so
	// that the live projector accepts them after the switch.
	if err := checkPostgresIdentity(ctx, rpool, cfg.Kafka, topics, log); err != nil {
		return ReplayResult{}, err
	}
	m := newMetrics(nil)
	sink := newPGSink(rpool, cfg.Names, log, m)
	tr, err := newTracker(ctx, cfg, ViewRooms, topics)
	if err != nil {
		return ReplayResult{}, err
	}
	if err := tr.run(ctx, feed.Config{
		Opts: cfg.Kafka, Topics: topics, MaxPoll: cfg.PGBatch, Registry: cfg.Registry, Log: log,
	}, sink); err != nil {
		return ReplayResult{}, err
	}
	// Every partition gets a position row, even those the replay found
	// empty: the live projector compares its own position with it.
	if err := pgx.BeginFunc(ctx, rpool, func(tx pgx.Tx) error {
		b := &pgBatch{s: sink, tx: tx}
		_, err := b.lockPositions(ctx, tr.starts(), nil)
		return err
	}); err != nil {
		return ReplayResult{}, fmt.Errorf("record positions: %w", err)
	}
	tr.phase("switching")
	switchStart := time.Now()
	if err := retryUntil(ctx, log, "switch to the new views", func() error {
		return switchPostgres(ctx, cfg.Pool, live)
	}); err != nil {
		return ReplayResult{}, err
	}
	took := time.Since(switchStart)
	if _, err := cfg.Pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+retiredSchema+" CASCADE"); err != nil {
		log.Warn("dropping the retired views failed; drop schema "+retiredSchema+" by hand", "err", err)
	}
	// The log moved on while the new views were built: bring them to its
	// end now, beside the live projector (both are safe together), so that
	// nothing waits for the next event to be caught up.
	if err := tr.retarget(ctx, "catching up"); err != nil {
		return ReplayResult{}, err
	}
	if err := tr.run(ctx, feed.Config{
		Opts: cfg.Kafka, Topics: topics, MaxPoll: cfg.PGBatch, Registry: cfg.Registry, Log: log,
	}, newPGSink(cfg.Pool, cfg.Names, log, m)); err != nil {
		return ReplayResult{}, err
	}
	var dead int64
	_ = cfg.Pool.QueryRow(ctx, "SELECT count(*) FROM dead_letters WHERE projector = $1", pgProjectorName).Scan(&dead)
	res := ReplayResult{View: ViewRooms, Events: tr.events.Load(), DeadLetters: dead, Elapsed: time.Since(start), Switch: took}
	tr.done()
	log.Info("rooms views replayed and switched", "events", res.Events, "elapsed", res.Elapsed, "switch", took)
	return res, nil
}

// switchPostgres moves the live views aside and the replayed ones in, in
// one transaction: readers see either the old tables or the new ones.
// Prepared statements of other sessions are re-planned against the new
// tables by PostgreSQL itself (the DDL invalidates them).
func switchPostgres(ctx context.Context, pool *pgxpool.Pool, live string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Waiting longer would queue every reader behind the switch.
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '3s'"); err != nil {
			return err
		}
		liveTables := make([]string, len(pgViewTables))
		for i, t := range pgViewTables {
			liveTables[i] = pgx.Identifier{live, t}.Sanitize()
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(liveTables, ", ")+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock the live views: %w", err)
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+retiredSchema+" CASCADE; CREATE SCHEMA "+retiredSchema); err != nil {
			return err
		}
		for _, t := range pgViewTables {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+pgx.Identifier{live, t}.Sanitize()+" SET SCHEMA "+retiredSchema); err != nil {
				return fmt.Errorf("retire %s: %w", t, err)
			}
			if _, err := tx.Exec(ctx, "ALTER TABLE "+pgx.Identifier{replaySchema, t}.Sanitize()+" SET SCHEMA "+pgx.Identifier{live}.Sanitize()); err != nil {
				return fmt.Errorf("install %s: %w", t, err)
			}
		}
		_, err := tx.Exec(ctx, "DROP SCHEMA "+replaySchema)
		return err
	})
}

// The ClickHouse history of a replay is built in tables with this suffix,
// swapped in by a multi-table RENAME.
const (
	replaySuffix  = "_replay"
	retiredSuffix = "_retired"
)

func replayClickHouse(ctx context.Context, cfg ReplayConfig) (ReplayResult, error) {
	start := time.Now()
	log := cfg.Log.With("view", ViewHistory)
	conn := cfg.ClickHouse
	if err := Migrate(ctx, nil, conn, log); err != nil {
		return ReplayResult{}, err
	}
	cur, err := chEpoch(ctx, conn)
	if err != nil {
		return ReplayResult{}, err
	}
	epoch := cur + 1
	live := []string{liveTables.messages, liveTables.events, liveTables.dead}
	for _, t := range live {
		for _, stmt := range []string{
			"DROP TABLE IF EXISTS " + t + replaySuffix,
			"CREATE TABLE " + t + replaySuffix + " AS " + t,
		} {
			if err := conn.Exec(ctx, stmt); err != nil {
				return ReplayResult{}, fmt.Errorf("create the replay tables: %w", err)
			}
		}
	}
	m := newMetrics(nil)
	sink := &chSink{
		conn: conn, rules: cfg.Rules, rooms: cfg.Names.Rooms,
		tables:     chTables{messages: live[0] + replaySuffix, events: live[1] + replaySuffix, dead: live[2] + replaySuffix},
		flushEvery: time.Second, log: log, m: m, name: chProjectorName, fixedEpoch: &epoch,
	}
	topics := []string{cfg.Names.Rooms}
	tr, err := newTracker(ctx, cfg, ViewHistory, topics)
	if err != nil {
		return ReplayResult{}, err
	}
	if err := tr.run(ctx, feed.Config{
		Opts: cfg.Kafka, Topics: topics, MaxPoll: cfg.CHBatch, Registry: cfg.Registry, Log: log,
	}, sink); err != nil {
		return ReplayResult{}, err
	}
	if err := retryUntil(ctx, log, "insert the last rows", func() error { return flushAndSync(ctx, sink) }); err != nil {
		return ReplayResult{}, err
	}
	tr.phase("switching")
	switchStart := time.Now()
	rename := ""
	for _, t := range live {
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+t+retiredSuffix); err != nil {
			return ReplayResult{}, err
		}
		if rename != "" {
			rename += ", "
		}
		rename += t + " TO " + t + retiredSuffix + ", " + t + replaySuffix + " TO " + t
	}
	// One RENAME: ClickHouse renames all the pairs under one lock, so
	// readers see the old tables or the new ones.
	if err := conn.Exec(ctx, "RENAME TABLE "+rename); err != nil {
		return ReplayResult{}, fmt.Errorf("switch to the new history: %w", err)
	}
	// The live projector notices the new epoch at its next insert and
	// resumes from the rows of this epoch.
	if err := retryUntil(ctx, log, "record the new epoch", func() error {
		return chWriteMeta(ctx, conn, "epoch", strconv.FormatUint(epoch, 10), epoch)
	}); err != nil {
		return ReplayResult{}, err
	}
	took := time.Since(switchStart)
	if err := checkClickHouseIdentity(ctx, conn, cfg.Kafka, cfg.Names.Rooms, log); err != nil {
		log.Warn("recording the log identity failed", "err", err)
	}
	// Bring the new history to the end of the log beside the live
	// projector (duplicates collapse), so that nothing waits for the next
	// event to be caught up.
	if err := tr.retarget(ctx, "catching up"); err != nil {
		return ReplayResult{}, err
	}
	tail := &chSink{
		conn: conn, rules: cfg.Rules, rooms: cfg.Names.Rooms, tables: liveTables,
		flushEvery: time.Second, log: log, m: m, name: chProjectorName, fixedEpoch: &epoch,
	}
	if err := tr.run(ctx, feed.Config{
		Opts: cfg.Kafka, Topics: topics, MaxPoll: cfg.CHBatch, Registry: cfg.Registry, Log: log,
	}, tail); err != nil {
		return ReplayResult{}, err
	}
	if err := retryUntil(ctx, log, "insert the last rows", func() error { return flushAndSync(ctx, tail) }); err != nil {
		return ReplayResult{}, err
	}
	for _, t := range live {
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+t+retiredSuffix); err != nil {
			log.Warn("dropping a retired table failed; drop it by hand", "table", t+retiredSuffix, "err", err)
		}
	}
	var dead uint64
	if row := conn.QueryRow(ctx, "SELECT count() FROM "+liveTables.dead+" FINAL WHERE epoch = ?", epoch); row.Err() == nil {
		_ = row.Scan(&dead)
	}
	res := ReplayResult{View: ViewHistory, Events: tr.events.Load(), DeadLetters: int64(dead), Elapsed: time.Since(start), Switch: took}
	tr.done()
	log.Info("history replayed and switched", "events", res.Events, "elapsed", res.Elapsed, "epoch", epoch, "switch", took)
	return res, nil
}

// flushAndSync inserts everything s buffers and waits for it.
func flushAndSync(ctx context.Context, s *chSink) error {
	if err := s.Flush(ctx); err != nil {
		return err
	}
	return s.Sync(ctx)
}
