package projector

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// The ClickHouse history of a replay is built in tables with this suffix,
// swapped in by a multi-table RENAME.
const (
	replaySuffix  = "_replay"
	retiredSuffix = "_retired"
)

// replayClickHouse builds the history anew, at the next epoch, in the
// replaySuffix tables, renames them in, then brings them to the end of the
// log.
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
	live := []string{liveTables.messages, liveTables.events, liveTables.dead, liveTables.changes}
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
	// Both sinks write the new epoch: first into the replay tables, then,
	// after the switch, into the live ones while catching up.
	sinkInto := func(tables chTables) *chSink {
		return &chSink{
			conn: conn, rules: cfg.Rules, rooms: cfg.Names.Rooms, tables: tables, keys: cfg.MessageKeys,
			flushEvery: time.Second, log: log, m: m, name: chProjectorName, fixedEpoch: &epoch,
		}
	}
	sink := sinkInto(chTables{messages: live[0] + replaySuffix, events: live[1] + replaySuffix, dead: live[2] + replaySuffix,
		changes: live[3] + replaySuffix})
	topics := []string{cfg.Names.Rooms}
	tr, err := newTracker(ctx, cfg, ViewHistory, topics)
	if err != nil {
		return ReplayResult{}, err
	}
	if err := tr.run(ctx, cfg.consumer(topics, cfg.CHBatch, log), sink); err != nil {
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
	tail := sinkInto(liveTables)
	if err := tr.run(ctx, cfg.consumer(topics, cfg.CHBatch, log), tail); err != nil {
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
