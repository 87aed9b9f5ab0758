package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
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
	// MessageKeys opens sealed message texts for the history (see
	// ClickHouseConfig.MessageKeys).
	MessageKeys *msgkeys.Reader
	Log         *slog.Logger
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

// consumer is the feed of one replay run: no consumer group, every partition
// of topics read by this process alone from the positions its sink stores.
func (c ReplayConfig) consumer(topics []string, maxPoll int, log *slog.Logger) feed.Config {
	return feed.Config{Opts: c.Kafka, Topics: topics, MaxPoll: maxPoll, Registry: c.Registry, Log: log}
}
