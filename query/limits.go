package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"happychat/schemas"
)

// Bounds on the expensive reads. Analytics scan ClickHouse over a time
// range (across every room when no room is named) and exports hold a
// ClickHouse connection for as long as their client reads, so each kind has
// a fixed number of slots per instance. A request that finds them all taken
// is answered 503 at once, with Retry-After, instead of queueing: a queue
// would hold the client's connection and memory and answer late anyway,
// while room and history reads (cheap, bounded by design) must stay fast.

// gate is a non-blocking semaphore for one kind of expensive read.
type gate struct {
	slots chan struct{}
	what  string // for the refusal: "analytics queries", "exports"
	busy  prometheus.Counter
}

func newGate(n int, what string, busy prometheus.Counter) *gate {
	return &gate{slots: make(chan struct{}, n), what: what, busy: busy}
}

// enter takes a slot, or answers unavailable when none is free. The caller
// must call the returned release exactly once.
func (g *gate) enter() (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	default:
		g.busy.Inc()
		return nil, &schemas.Error{
			Code:       schemas.CodeUnavailable,
			Message:    fmt.Sprintf("too many %s in progress on this server; retry shortly", g.what),
			RetryAfter: time.Second,
		}
	}
}

// ClickHouse error codes of the per-query limits (ErrorCodes.cpp): the
// query exceeded max_execution_time, max_rows_to_read or max_bytes_to_read
// with the overflow mode "throw".
const (
	chTooManyRows     = 158
	chTimeoutExceeded = 159
	chTooManyBytes    = 307
)

// analyticsSettings bounds one analytics query on the ClickHouse server:
// its time, and the rows and bytes it may read.
func (s *Service) analyticsSettings(ctx context.Context) context.Context {
	return chSettings(ctx, s.cfg.AnalyticsTimeout, clickhouse.Settings{
		"max_rows_to_read":  int(s.cfg.AnalyticsMaxRows),
		"max_bytes_to_read": int(s.cfg.AnalyticsMaxBytes),
	})
}

// The probe that enforces max_rows_to_read before an analytics query runs.
// ClickHouse 18.16 checks the limit against the marks a plain read selects,
// before reading anything, but not for a FINAL read (every analytics query
// is one): so the same range is first read plainly, one row at most, under
// the limit. Over it, the probe fails at once and the FINAL query never
// starts; under it, the probe costs one granule.
const (
	sqlReachProbe = `SELECT 1 FROM messages
		WHERE sent_at >= toDateTime(?) AND sent_at <= toDateTime(?) AND sent_ms >= ? AND sent_ms < ?
		LIMIT 1` + sqlThrowOnOverflow
	sqlReachProbeRoom = `SELECT 1 FROM messages
		WHERE room_id = ? AND sent_at >= toDateTime(?) AND sent_at <= toDateTime(?) AND sent_ms >= ? AND sent_ms < ?
		LIMIT 1` + sqlThrowOnOverflow
)

// probeReach refuses (503) an analytics read of [from, to) in room (0: all
// rooms) that would read more rows than AnalyticsMaxRows. ctx carries the
// analytics deadline.
func (s *Service) probeReach(ctx context.Context, room schemas.ID, from, to time.Time) error {
	query, args := sqlReachProbe, []any{}
	if room != 0 {
		query, args = sqlReachProbeRoom, append(args, uint64(room))
	}
	// sent_at is in whole seconds: widen its bounds, sent_ms is exact.
	args = append(args, from.Unix(), to.Unix(), from.UnixMilli(), to.UnixMilli())
	var one uint8
	err := s.ch.QueryRow(s.analyticsSettings(ctx), query, args...).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return storeError(ctx, fmt.Errorf("analytics probe: %w", err))
	}
	return nil
}

// sqlThrowOnOverflow ends every analytics query. The overflow modes are
// spelled out because "break" (a server profile may set it) would return a
// partial result, a silently wrong count; "throw" makes it an error the
// client sees as 503. They go in the SQL text because clickhouse-go can
// send only numeric settings to ClickHouse 18.16.
const sqlThrowOnOverflow = `
		SETTINGS read_overflow_mode = 'throw', timeout_overflow_mode = 'throw'`

// chLimitError classifies ClickHouse's refusals under those limits: the
// query was too big for this service right now, not broken, so the client
// gets 503 unavailable with Retry-After (and a narrower range helps). Other
// errors are returned as they are.
func chLimitError(err error) error {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return err
	}
	var msg string
	switch ex.Code {
	case chTooManyRows, chTooManyBytes:
		msg = "the query would read more than this server allows; narrow from/to or name a room"
	case chTimeoutExceeded:
		msg = "the store did not answer in time"
	default:
		return err
	}
	return fmt.Errorf("%w: %w", &schemas.Error{Code: schemas.CodeUnavailable, Message: msg, RetryAfter: time.Second}, err)
}
