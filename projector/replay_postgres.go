package projector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL schemas of a replay: the new views are built in replaySchema,
// the old ones parked in retiredSchema at the switch, then dropped.
const (
	replaySchema  = "projector_replay"
	retiredSchema = "projector_retired"
	// replayLockKey keeps two replays of the rooms views apart ("hcrp").
	replayLockKey = 0x68637270
)

// replayPostgres builds the rooms views anew in replaySchema, switches them
// in, then brings them to the end of the log.
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
	defer func() {
		_, _ = lock.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(replayLockKey))
	}()

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
	if err := tr.run(ctx, cfg.consumer(topics, cfg.PGBatch, log), sink); err != nil {
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
	if err := tr.run(ctx, cfg.consumer(topics, cfg.PGBatch, log), newPGSink(cfg.Pool, cfg.Names, log, m)); err != nil {
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
