package projector

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// pgSink applies batches of records to the views, one transaction per
// batch, the batch's positions included.
type pgSink struct {
	pool  *pgxpool.Pool
	names schemas.Names
	log   *slog.Logger
	m     *metrics
	name  string

	deadLog *rate.Limiter

	mu sync.Mutex
	// expected is where this instance's consumption of each partition
	// continues: the position it resumed from, then the last applied offset
	// plus one. A store that holds less than that was replaced under us.
	expected map[feed.TP]int64
}

func newPGSink(pool *pgxpool.Pool, names schemas.Names, log *slog.Logger, m *metrics) *pgSink {
	return &pgSink{pool: pool, names: names, log: log, m: m, name: pgProjectorName, expected: map[feed.TP]int64{},
		deadLog: newLogLimiter()}
}

func (s *pgSink) Resume(ctx context.Context, parts map[string][]int32) (map[string]map[int32]int64, error) {
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	stored, err := s.readPositions(ctx, topics)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			key := feed.TP{Topic: t, Partition: p}
			off, ok := stored[key]
			if !ok {
				delete(s.expected, key)
				continue
			}
			if out[t] == nil {
				out[t] = map[int32]int64{}
			}
			out[t][p] = off
			s.expected[key] = off
		}
	}
	return out, nil
}

func (s *pgSink) Pending() (int, time.Time)     { return 0, time.Time{} }
func (s *pgSink) Flush(context.Context) error   { return nil }
func (s *pgSink) Drop(parts map[string][]int32) { s.forget(parts) }
func (s *pgSink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.expected)
}
func (s *pgSink) forget(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range parts {
		for _, p := range ps {
			delete(s.expected, feed.TP{Topic: t, Partition: p})
		}
	}
}

// Verify answers feed.ErrRestart if the store holds less than this
// instance consumed (the views were switched by a replay while it was idle).
func (s *pgSink) Verify(ctx context.Context) error {
	expected := s.expectedSnapshot()
	if len(expected) == 0 {
		return nil
	}
	topics := map[string]bool{}
	for tp := range expected {
		topics[tp.Topic] = true
	}
	stored, err := s.readPositions(ctx, slices.Collect(maps.Keys(topics)))
	if err != nil {
		return err
	}
	for tp, e := range expected {
		if st, ok := stored[tp]; !ok || st < e {
			return s.seekBack(tp, st, e)
		}
	}
	return nil
}

// Apply makes recs durable in one transaction with their positions.
func (s *pgSink) Apply(ctx context.Context, recs []feed.Record) error {
	start := time.Now()
	expected := s.expectedSnapshot()

	var applied []feed.Record
	var next map[feed.TP]int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgBatch{s: s, tx: tx}
		var err error
		applied, next, err = b.run(ctx, recs, expected)
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	for tp, n := range next {
		s.expected[tp] = n
	}
	s.mu.Unlock()
	occurred := make([]time.Time, 0, len(applied))
	for i := range applied {
		if applied[i].Err == nil {
			occurred = append(occurred, applied[i].Env.OccurredAt)
		}
	}
	s.m.committed(s.name, len(applied), occurred, time.Since(start))
	return nil
}

// expectedSnapshot copies expected, so that a batch or a check reads it
// without holding the lock across a round trip to the store.
func (s *pgSink) expectedSnapshot() map[feed.TP]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.expected)
}

// readPositions reads the stored positions of this projector in topics.
func (s *pgSink) readPositions(ctx context.Context, topics []string) (map[feed.TP]int64, error) {
	rows, err := s.pool.Query(ctx, pgReadOffsets, s.name, topics)
	if err != nil {
		return nil, fmt.Errorf("read offsets: %w", err)
	}
	stored, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("read offsets: %w", err)
	}
	return stored, nil
}

// scanPositions collects rows of (topic, partition, next_offset), the shape
// of every projector_offsets read.
func scanPositions(rows pgx.Rows) (map[feed.TP]int64, error) {
	stored := map[feed.TP]int64{}
	var tp feed.TP
	var off int64
	if _, err := pgx.ForEachRow(rows, []any{&tp.Topic, &tp.Partition, &off}, func() error {
		stored[tp] = off
		return nil
	}); err != nil {
		return nil, err
	}
	return stored, nil
}

// seekBack answers a store that holds less of tp than this instance
// consumed: the views were replaced (by a replay), and the consumer must
// resume from the store's position.
func (s *pgSink) seekBack(tp feed.TP, stored, consumer int64) error {
	s.log.Warn("stored position is behind this consumer: the views were replaced, seeking back",
		"topic", tp.Topic, "partition", tp.Partition, "stored", stored, "consumer", consumer)
	return feed.ErrRestart
}
