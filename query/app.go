package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"happychat/schemas/token"
)

// Config is what the query service needs. PG, CH, Keys and Log are
// required; the tuning knobs have defaults (see setDefaults).
type Config struct {
	// PG reads the room views (rooms, members, room_messages, read_marks).
	PG *pgxpool.Pool
	// CH reads the message history (messages, room_events). Its connection
	// names the database; queries use unqualified table names.
	CH driver.Conn
	// Keys verifies bearer tokens (CHAT_TOKEN_SECRET).
	Keys *token.Keys
	// AdminToken is the operator's bearer secret (CHAT_ADMIN_TOKEN); empty
	// means no request is an admin request.
	AdminToken string
	// Capacity is members per room (CHAT_ROOM_CAPACITY), shown on every Room.
	Capacity int
	// Views are the topics the PostgreSQL views fold (the rooms and users
	// topics): a read's position (viewpos.Header) on them is waited for;
	// on any other topic it is ignored.
	Views []string
	Log   *slog.Logger
	// Metrics receives the service's collectors; nil means a private registry.
	Metrics prometheus.Registerer

	// QueryTimeout bounds every store call of a room or history request.
	// Default 5 s.
	QueryTimeout time.Duration
	// AnalyticsTimeout bounds each analytics query. Default 15 s.
	AnalyticsTimeout time.Duration
	// ExportChunk is how many messages one export query asks for at most:
	// it bounds what ClickHouse sorts per query. Default 20,000.
	ExportChunk int
	// ExportChunkTimeout bounds one export query, including the time the
	// client takes to read its rows (a slow reader holds the cursor).
	// Default 5 min.
	ExportChunkTimeout time.Duration
	// ExportFlushRows is how many NDJSON lines are written between flushes.
	// Default 1,000.
	ExportFlushRows int
	// AnalyticsConcurrency and ExportConcurrency are the analytics queries
	// and the exports this instance runs at once (CHAT_ANALYTICS_CONCURRENCY,
	// CHAT_EXPORT_CONCURRENCY); one more is answered 503 with Retry-After.
	// Defaults 4 and 8 (exports hold a ClickHouse connection each while
	// their client reads; the pool has 32).
	AnalyticsConcurrency int
	ExportConcurrency    int
	// AnalyticsMaxRows and AnalyticsMaxBytes bound what one analytics query
	// may read in ClickHouse (max_rows_to_read, max_bytes_to_read;
	// CHAT_ANALYTICS_MAX_ROWS, CHAT_ANALYTICS_MAX_BYTES); past them it is
	// 503. Defaults 100,000,000 rows and 8 GiB.
	AnalyticsMaxRows  int64
	AnalyticsMaxBytes int64
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Limits are the read rates (ratelimit.go); zero rates limit nothing.
	Limits Limits
}

func (c *Config) setDefaults() {
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 5 * time.Second
	}
	if c.AnalyticsTimeout <= 0 {
		c.AnalyticsTimeout = 15 * time.Second
	}
	if c.ExportChunk <= 0 {
		c.ExportChunk = 20000
	}
	if c.ExportChunkTimeout <= 0 {
		c.ExportChunkTimeout = 5 * time.Minute
	}
	if c.ExportFlushRows <= 0 {
		c.ExportFlushRows = 1000
	}
	if c.AnalyticsConcurrency <= 0 {
		c.AnalyticsConcurrency = 4
	}
	if c.ExportConcurrency <= 0 {
		c.ExportConcurrency = 8
	}
	if c.AnalyticsMaxRows <= 0 {
		c.AnalyticsMaxRows = 100_000_000
	}
	if c.AnalyticsMaxBytes <= 0 {
		c.AnalyticsMaxBytes = 8 << 30
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
}

// Validate reports every missing or invalid field at once.
func (c *Config) Validate() error {
	var errs []error
	if c.PG == nil {
		errs = append(errs, errors.New("query: PG pool is required"))
	}
	if c.CH == nil {
		errs = append(errs, errors.New("query: ClickHouse connection is required"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("query: token keys are required"))
	}
	if c.Log == nil {
		errs = append(errs, errors.New("query: logger is required"))
	}
	if _, err := token.NewAdmin(c.AdminToken); err != nil {
		errs = append(errs, fmt.Errorf("query: CHAT_ADMIN_TOKEN: %w", err))
	}
	if c.Capacity < 1 {
		errs = append(errs, errors.New("query: capacity must be positive"))
	}
	return errors.Join(errs...)
}

// Service answers the read routes. See the package doc for its contract.
type Service struct {
	cfg     Config
	pg      *pgxpool.Pool
	ch      driver.Conn
	log     *slog.Logger
	metrics *metrics
	limits  *readLimits
	// adminToken recognises CHAT_ADMIN_TOKEN (by digest, token.Admin).
	adminToken token.Admin
	// analytics and exports are the slots of the expensive reads (limits.go).
	analytics *gate
	exports   *gate
}

// New checks cfg, registers the metrics and returns a Service. It does not
// contact the stores (see Checks).
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("query: metrics: %w", err)
	}
	admin, _ := token.NewAdmin(cfg.AdminToken) // validated above
	return &Service{
		cfg: cfg, pg: cfg.PG, ch: cfg.CH, log: cfg.Log, metrics: m,
		limits: newReadLimits(cfg.Limits), adminToken: admin,
		analytics: newGate(cfg.AnalyticsConcurrency, "analytics queries", m.busy.WithLabelValues("analytics")),
		exports:   newGate(cfg.ExportConcurrency, "exports", m.busy.WithLabelValues("export")),
	}, nil
}

// Register mounts the read routes, all under /v1, on r. This list is the
// index of the service's use cases; each lives in its own file.
func (s *Service) Register(r gin.IRouter) {
	r.GET("/v1/rooms", s.route("list_rooms", s.httpListRooms))                   // list_rooms.go
	r.GET("/v1/rooms/:id", s.route("get_room", s.httpGetRoom))                   // get_room.go
	r.GET("/v1/rooms/:id/messages", s.route("messages", s.httpMessages))         // messages.go
	r.GET("/v1/rooms/:id/messages/export", s.route("export", s.httpExport))      // export.go
	r.GET("/v1/rooms/:id/timeline", s.route("timeline", s.httpTimeline))         // timeline.go
	r.GET("/v1/rooms/:id/bans", s.route("bans", s.httpBans))                     // bans.go
	r.GET("/v1/analytics/activity", s.route("activity", s.httpActivity))         // activity.go
	r.GET("/v1/analytics/top-senders", s.route("top_senders", s.httpTopSenders)) // top_senders.go
	r.GET("/v1/conversations", s.route("conversations", s.httpConversations))    // conversations.go
	r.GET("/v1/me/blocks", s.route("blocks", s.httpBlocks))                      // blocks.go
	r.GET("/v1/admin/reports", s.route("reports", s.httpReports))                // reports.go
	r.GET("/v1/openapi.yaml", s.route("openapi", s.httpOpenAPI))                 // openapi/
}

// Check names one dependency and how to ping it. Its fields match
// httpserver.Check, so cmd converts with httpserver.Check(c).
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Checks returns the readiness pings of the service's stores. Each asks for
// the table the service reads, so that a store that answers but has not been
// migrated yet is not ready either.
func (s *Service) Checks() []Check {
	return []Check{
		{Name: "postgres", Ping: s.pingPostgres},
		{Name: "clickhouse", Ping: s.pingClickHouse},
	}
}

func (s *Service) pingPostgres(ctx context.Context) error {
	var ok bool
	if err := s.pg.QueryRow(ctx, `SELECT to_regclass('rooms') IS NOT NULL`).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errors.New("table rooms is missing (run happychat migrate)")
	}
	return nil
}

func (s *Service) pingClickHouse(ctx context.Context) error {
	// message_changes (migration 3) is read with every page: a history
	// not migrated yet is not ready, rather than failing each read.
	for _, table := range []string{"messages", "message_changes"} {
		var ok uint8
		if err := s.ch.QueryRow(ctx, `EXISTS TABLE `+table).Scan(&ok); err != nil {
			return err
		}
		if ok != 1 {
			return errors.New("table " + table + " is missing (run happychat migrate)")
		}
	}
	return nil
}
