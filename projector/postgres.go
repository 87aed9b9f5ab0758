package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/viewpos"
	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// PostgresConfig configures the PostgreSQL projector.
type PostgresConfig struct {
	// Pool is the PostgreSQL the views live in (migrated: see Migrate).
	Pool *pgxpool.Pool
	// Names are the topics to read (rooms and users) and the consumer group
	// that spreads their partitions among instances.
	Names schemas.Names
	// Kafka are the base client options: seed brokers, logger, dialer.
	Kafka []kgo.Opt
	// InstanceID, if set, makes the group membership static (a restarted
	// instance gets its partitions back at once). Unique per live instance.
	InstanceID string
	// MaxBatch bounds the records of one transaction (default 500).
	MaxBatch int
	Log      *slog.Logger
	// Metrics registers the projector metrics (nil: not registered).
	Metrics prometheus.Registerer
	// Registry decodes events (default schemas.Events).
	Registry *schemas.Registry
	// FeatureLevel is the level advertised as this build's (default
	// schemas.FeatureLevel); only a test running a newer Registry sets it.
	FeatureLevel int
}

func (c *PostgresConfig) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = schemas.Events
	}
}

// Validate reports every missing setting at once.
func (c PostgresConfig) Validate() error {
	var errs []error
	if c.Pool == nil {
		errs = append(errs, errors.New("postgres projector: Pool is required"))
	}
	if c.Names.Rooms == "" || c.Names.Users == "" || c.Names.ProjectorPostgresGroup == "" || c.Names.Features == "" {
		errs = append(errs, errors.New("postgres projector: Names are required"))
	}
	if len(c.Kafka) == 0 {
		errs = append(errs, errors.New("postgres projector: Kafka options are required"))
	}
	return errors.Join(errs...)
}

// Postgres projects the rooms and users topics into the PostgreSQL views
// (rooms, members, users, room_messages, read_marks). See doc.go for how it
// stays exact.
type Postgres struct {
	cfg     PostgresConfig
	m       *metrics
	sink    *pgSink
	blocked *blockedSet
}

// pgProjectorName keys this projector's rows in projector_offsets.
const pgProjectorName = viewpos.PGProjector

// NewPostgres returns a projector; Run starts it.
func NewPostgres(cfg PostgresConfig) (*Postgres, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Metrics)
	return &Postgres{cfg: cfg, m: m, sink: newPGSink(cfg.Pool, cfg.Names, cfg.Log, m), blocked: newBlockedSet(m, pgProjectorName)}, nil
}

// Run advertises the instance's feature level (refusing to start below the
// cluster's, see docs/command.md "Rolling upgrades"), checks the log's
// identity, then projects until ctx ends. It returns nil on cancellation;
// store or broker outages are retried, never fatal.
func (p *Postgres) Run(ctx context.Context) error {
	return advertise(ctx, p.cfg.Kafka, p.cfg.Names, "projector-postgres", p.cfg.InstanceID, p.cfg.FeatureLevel, p.run)
}

func (p *Postgres) run(ctx context.Context) error {
	topics := []string{p.cfg.Names.Rooms, p.cfg.Names.Users}
	if err := retryUntil(ctx, p.cfg.Log, "check the log identity", func() error {
		return checkPostgresIdentity(ctx, p.cfg.Pool, p.cfg.Kafka, topics, p.cfg.Log)
	}); err != nil {
		return nil
	}
	return feed.Run(ctx, feed.Config{
		Opts:       p.cfg.Kafka,
		Group:      p.cfg.Names.ProjectorPostgresGroup,
		InstanceID: p.cfg.InstanceID,
		Topics:     topics,
		MaxPoll:    p.cfg.MaxBatch,
		Registry:   p.cfg.Registry,
		Log:        p.cfg.Log.With("projector", pgProjectorName),
		Observer:   blockingObserver{observer{p.m, pgProjectorName}, p.blocked},
	}, p.sink)
}

// Ping reports whether PostgreSQL answers (for /readyz).
func (p *Postgres) Ping(ctx context.Context) error { return p.cfg.Pool.Ping(ctx) }

// Ready reports the partitions stopped at an event this build does not
// know (for /readyz): nil if there are none.
func (p *Postgres) Ready(context.Context) error { return p.blocked.ready() }

// checkPostgresIdentity compares the topic ids the views were built from
// with the live ones. Views built from another log (a fresh embedded broker,
// a recreated topic) are worthless: they are truncated and rebuilt from
// offset 0.
func checkPostgresIdentity(ctx context.Context, pool *pgxpool.Pool, opts []kgo.Opt, topics []string, log *slog.Logger) error {
	desc, err := feed.DescribeTopics(ctx, opts, topics)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(identityLockKey)); err != nil {
			return err
		}
		var mismatch []string
		for _, t := range topics {
			live := desc[t].ID
			if live == "" {
				continue
			}
			var stored string
			err := tx.QueryRow(ctx, pgReadMeta, "topic_id/"+t).Scan(&stored)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
			case err != nil:
				return err
			case stored != live:
				mismatch = append(mismatch, fmt.Sprintf("%s: views built from %s, log is %s", t, stored, live))
			}
		}
		if len(mismatch) > 0 {
			log.Error("THE POSTGRESQL VIEWS WERE BUILT FROM ANOTHER LOG: truncating them and rebuilding from offset 0",
				"mismatch", mismatch)
			if _, err := tx.Exec(ctx, "TRUNCATE "+joinIdents(pgViewTables)); err != nil {
				return fmt.Errorf("truncate views: %w", err)
			}
		}
		for _, t := range topics {
			if id := desc[t].ID; id != "" {
				if _, err := tx.Exec(ctx, pgWriteMeta, "topic_id/"+t, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// identityLockKey serialises identity checks of concurrent instances ("hcid").
const identityLockKey = 0x68636964

func joinIdents(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(out, ", ")
}

// retryUntil runs fn until it succeeds or ctx ends (then it returns ctx's
// error), logging each failure.
func retryUntil(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	delay := 200 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Error("cannot "+what+", retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}
