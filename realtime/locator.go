package realtime

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"happychat/schemas"
)

// OffsetLocator tells a resuming socket where to start reading its room's
// partition. It only ever saves reading: an answer that is too early costs
// time, one that is too late is detected (the first event read is not the
// next seq) and the resume starts over from the partition's start.
type OffsetLocator interface {
	// Locate returns an offset of partition from which reading finds every
	// event of room with a seq above afterSeq; ok=false when it knows none
	// (read from the partition's start).
	Locate(ctx context.Context, room schemas.ID, partition int32, afterSeq int64) (offset int64, ok bool, err error)
}

// locateAttempts is how many times a resume asks its locator before it
// falls back to the partition's start. One retry: a pooled connection the
// database closed (a restart, or a connection the driver closed after a
// cancelled query) fails exactly one query, and the fallback it would cause
// reads a whole partition for one socket.
const locateAttempts = 2

// locateRetrying asks loc up to locateAttempts times, each within perTry,
// and returns the first answer without an error (or the last error). It
// stops early when ctx ends.
func locateRetrying(ctx context.Context, loc OffsetLocator, room schemas.ID, partition int32, afterSeq int64, perTry time.Duration) (int64, bool, error) {
	var err error
	for range locateAttempts {
		lctx, cancel := context.WithTimeout(ctx, perTry)
		var off int64
		var ok bool
		off, ok, err = loc.Locate(lctx, room, partition, afterSeq)
		cancel()
		if err == nil || ctx.Err() != nil {
			return off, ok, err
		}
	}
	return 0, false, err
}

// FromStart is the OffsetLocator that knows nothing: every resume from the
// log reads the room's partition from its start. Always correct, slow on a
// long log.
type FromStart struct{}

// Locate always answers ok=false.
func (FromStart) Locate(context.Context, schemas.ID, int32, int64) (int64, bool, error) {
	return 0, false, nil
}

// ClickHouseLocator finds resume offsets in the room_events table that the
// ClickHouse projector fills (projector/migrations/clickhouse): the offset
// just past the last indexed event of the room with a seq at or below the
// one asked for, or, for a resume from seq 0, the offset of the room's first
// event (seq 1), so that it does not read every other room's events from
// the partition's start. Since a room's events sit on one partition in seq
// order, every later event of the room is at or after that offset, however
// far the projector lags behind the log.
type ClickHouseLocator struct {
	conn driver.Conn
}

// NewClickHouseLocator returns a locator reading through conn (a native
// protocol connection to the history database).
func NewClickHouseLocator(conn driver.Conn) *ClickHouseLocator {
	return &ClickHouseLocator{conn: conn}
}

// locateSQL reads the room's prefix of the (room_id, seq) sorting key. Rows
// a replay duplicated carry the same offset, so FINAL is not needed; the
// partition filter ignores rows written under another partition count.
const locateSQL = `SELECT count(), max(offset) FROM room_events
WHERE room_id = ? AND seq <= ? AND partition = ?`

// locateFirstSQL reads the room's first event: one row at the head of the
// room's prefix of the sorting key.
const locateFirstSQL = `SELECT count(), min(offset) FROM room_events
WHERE room_id = ? AND seq = 1 AND partition = ?`

// Locate implements OffsetLocator.
func (l *ClickHouseLocator) Locate(ctx context.Context, room schemas.ID, partition int32, afterSeq int64) (int64, bool, error) {
	if afterSeq <= 0 {
		var n, first uint64
		if err := l.conn.QueryRow(ctx, locateFirstSQL, uint64(room), uint32(partition)).Scan(&n, &first); err != nil {
			return 0, false, fmt.Errorf("locate room %d's first event in clickhouse: %w", room, err)
		}
		if n == 0 {
			return 0, false, nil
		}
		return int64(first), true, nil
	}
	var n, maxOffset uint64
	if err := l.conn.QueryRow(ctx, locateSQL, uint64(room), uint64(afterSeq), uint32(partition)).Scan(&n, &maxOffset); err != nil {
		return 0, false, fmt.Errorf("locate room %d seq %d in clickhouse: %w", room, afterSeq, err)
	}
	if n == 0 {
		return 0, false, nil
	}
	return int64(maxOffset) + 1, true, nil
}
