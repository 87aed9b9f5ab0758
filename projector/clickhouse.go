package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// Rules soften message text and name its screen effects. They are pure and
// versioned: the same text and version always give the same result, and the
// version is stored with every message so that a replay under new rules is
// visible. *moderation.Rules implements it.
type Rules interface {
	Soften(text string) string
	Effects(text string) []string
	Version() string
}

// ClickHouseConfig configures the ClickHouse projector.
type ClickHouseConfig struct {
	// Conn is the ClickHouse database of the history (migrated: see Migrate).
	Conn driver.Conn
	// Names are the rooms topic and the consumer group.
	Names schemas.Names
	// Kafka are the base client options: seed brokers, logger, dialer.
	Kafka []kgo.Opt
	// InstanceID, if set, makes the group membership static.
	InstanceID string
	Rules      Rules
	// MessageKeys opens sealed message texts (docs/adr/0009); nil only
	// while the cluster is below feature level 4, which seals nothing.
	MessageKeys *msgkeys.Reader
	// FlushRows and FlushInterval bound a batch: it is inserted when it
	// holds FlushRows records or its oldest record waited FlushInterval
	// (defaults 10000 and 200 ms: docs/projector.md says what a longer
	// interval saves and costs).
	FlushRows     int
	FlushInterval time.Duration
	Log           *slog.Logger
	Metrics       prometheus.Registerer
	Registry      *schemas.Registry
	// FeatureLevel is the level advertised as this build's (default
	// schemas.FeatureLevel); only a test running a newer Registry sets it.
	FeatureLevel int
}

func (c *ClickHouseConfig) setDefaults() {
	if c.FlushRows <= 0 {
		c.FlushRows = 10000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = schemas.Events
	}
}

// Validate reports every missing setting at once.
func (c ClickHouseConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("clickhouse projector: Conn is required"))
	}
	if c.Names.Rooms == "" || c.Names.ProjectorClickHouseGroup == "" || c.Names.Features == "" {
		errs = append(errs, errors.New("clickhouse projector: Names are required"))
	}
	if len(c.Kafka) == 0 {
		errs = append(errs, errors.New("clickhouse projector: Kafka options are required"))
	}
	if c.Rules == nil {
		errs = append(errs, errors.New("clickhouse projector: Rules are required"))
	}
	return errors.Join(errs...)
}

// ClickHouse projects the rooms topic into the message history (messages)
// and the room event index (room_events). See doc.go for how it stays exact.
type ClickHouse struct {
	cfg     ClickHouseConfig
	m       *metrics
	sink    *chSink
	blocked *blockedSet
}

const chProjectorName = "clickhouse"

// liveTables are the history tables queries read.
var liveTables = chTables{messages: "messages", events: "room_events", dead: "dead_letters", changes: "message_changes"}

// NewClickHouse returns a projector; Run starts it.
func NewClickHouse(cfg ClickHouseConfig) (*ClickHouse, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Metrics)
	s := &chSink{
		conn: cfg.Conn, rules: cfg.Rules, rooms: cfg.Names.Rooms, tables: liveTables, keys: cfg.MessageKeys,
		flushEvery: cfg.FlushInterval, log: cfg.Log.With("projector", chProjectorName), m: m, name: chProjectorName,
	}
	return &ClickHouse{cfg: cfg, m: m, sink: s, blocked: newBlockedSet(m, chProjectorName)}, nil
}

// Run advertises the instance's feature level (refusing to start below the
// cluster's, see docs/command.md "Rolling upgrades"), checks the log's
// identity, then projects until ctx ends. It returns nil on cancellation;
// outages are retried, never fatal.
func (c *ClickHouse) Run(ctx context.Context) error {
	return advertise(ctx, c.cfg.Kafka, c.cfg.Names, "projector-clickhouse", c.cfg.InstanceID, c.cfg.FeatureLevel, c.run)
}

func (c *ClickHouse) run(ctx context.Context) error {
	if err := retryUntil(ctx, c.cfg.Log, "check the log identity", func() error {
		return checkClickHouseIdentity(ctx, c.cfg.Conn, c.cfg.Kafka, c.cfg.Names.Rooms, c.cfg.Log)
	}); err != nil {
		return nil
	}
	return feed.Run(ctx, feed.Config{
		Opts:       c.cfg.Kafka,
		Group:      c.cfg.Names.ProjectorClickHouseGroup,
		InstanceID: c.cfg.InstanceID,
		Topics:     []string{c.cfg.Names.Rooms},
		MaxPoll:    c.cfg.FlushRows,
		Registry:   c.cfg.Registry,
		Log:        c.cfg.Log.With("projector", chProjectorName),
		Observer:   blockingObserver{observer{c.m, chProjectorName}, c.blocked},
	}, c.sink)
}

// Ping reports whether ClickHouse answers (for /readyz).
func (c *ClickHouse) Ping(ctx context.Context) error { return c.cfg.Conn.Ping(ctx) }

// Ready reports the partitions stopped at an event this build does not
// know (for /readyz): nil if there are none.
func (c *ClickHouse) Ready(context.Context) error { return c.blocked.ready() }

// checkClickHouseIdentity truncates the history when it was built from
// another log than the live rooms topic.
func checkClickHouseIdentity(ctx context.Context, conn driver.Conn, opts []kgo.Opt, topic string, log *slog.Logger) error {
	desc, err := feed.DescribeTopics(ctx, opts, []string{topic})
	if err != nil {
		return err
	}
	live := desc[topic].ID
	if live == "" {
		return nil
	}
	stored, ok, err := chReadMeta(ctx, conn, "topic_id/"+topic)
	if err != nil {
		return err
	}
	if ok && stored != live {
		log.Error("THE CLICKHOUSE HISTORY WAS BUILT FROM ANOTHER LOG: truncating it and rebuilding from offset 0",
			"topic", topic, "built_from", stored, "log", live)
		for _, t := range []string{liveTables.messages, liveTables.events, liveTables.dead, liveTables.changes} {
			if err := conn.Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
				return fmt.Errorf("truncate %s: %w", t, err)
			}
		}
	}
	if !ok || stored != live {
		return chWriteMeta(ctx, conn, "topic_id/"+topic, live, uint64(time.Now().UnixNano()))
	}
	return nil
}

func chReadMeta(ctx context.Context, conn driver.Conn, key string) (string, bool, error) {
	rows, err := conn.Query(ctx, "SELECT value FROM projector_meta FINAL WHERE key = ?", key)
	if err != nil {
		return "", false, fmt.Errorf("read meta %s: %w", key, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return "", false, rows.Err()
	}
	var v string
	if err := rows.Scan(&v); err != nil {
		return "", false, err
	}
	return v, true, rows.Err()
}

func chWriteMeta(ctx context.Context, conn driver.Conn, key, value string, version uint64) error {
	if err := chInsertRow(ctx, conn, "INSERT INTO projector_meta (key, value, version)", key, value, version); err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// batchTimeout bounds a batch insert whose caller gave no earlier deadline.
const batchTimeout = 2 * time.Minute

// batchContext is the context a batch is prepared with, and its release,
// to call once Send returned. clickhouse-go (v2.50.0) closes a batch's
// connection when the batch's context ends, from a goroutine that Send
// stops without waiting for it: a caller that cancels its context right
// after Send (a deferred cancel) can have that goroutine close the
// connection after Send has put it back in the pool, and the next query on
// it fails with "use of closed network connection"
// (ClickHouse/clickhouse-go#2032, open). A replay failed so on a loaded
// machine. So the caller's cancel reaches the batch only while it runs, and
// after that only the batch's deadline (the caller's, or batchTimeout)
// ends its context.
func batchContext(ctx context.Context) (context.Context, func()) {
	deadline := time.Now().Add(batchTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	bctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	context.AfterFunc(bctx, cancel) // its deadline ends it; this only releases it then
	stop := context.AfterFunc(ctx, cancel)
	return bctx, func() { stop() }
}

// chInsertRow inserts one row through a batch: ClickHouse 18.16 does not
// answer an INSERT ... VALUES sent as a plain statement over the native
// protocol (the server waits for a data block), so every insert is a batch.
func chInsertRow(ctx context.Context, conn driver.Conn, insert string, values ...any) error {
	bctx, release := batchContext(ctx)
	defer release()
	batch, err := conn.PrepareBatch(bctx, insert)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Close() }()
	if err := batch.Append(values...); err != nil {
		return err
	}
	return batch.Send()
}

// chEpoch reads the generation of the live history tables (0 before any
// replay).
func chEpoch(ctx context.Context, conn driver.Conn) (uint64, error) {
	v, ok, err := chReadMeta(ctx, conn, "epoch")
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("meta epoch %q: %w", v, err)
	}
	return n, nil
}
