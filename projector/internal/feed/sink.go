package feed

import (
	"context"
	"errors"
	"time"

	"happychat/schemas"
)

// Record is one log record as a projector sees it: where it sits on the log
// and what it says. Key and Value are kept for dead-lettering.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Env is the decoded event; meaningful only when Err is nil.
	Env schemas.Envelope
	// Err is why the record could not be decoded (it wraps schemas.ErrDecode):
	// a poison record, to be recorded and skipped. A sink never sees one
	// wrapping schemas.ErrUnknownEvent: the loop blocks its partition there
	// instead (see Block).
	Err error
}

// TP names a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

// ErrRestart asks the loop to drop its Kafka session and start a new one, so
// that every partition resumes from the positions the store holds now (after
// the views were swapped by a replay or rebuilt from another log).
var ErrRestart = errors.New("feed: positions changed under the consumer, restart the session")

// Sink is a projector as the loop drives it.
type Sink interface {
	// Resume returns, for each given partition, the offset of the next record
	// the store needs. Partitions left out start at the beginning of the log.
	Resume(ctx context.Context, parts map[string][]int32) (map[string]map[int32]int64, error)
	// Apply takes records in log order within each partition. It returns nil
	// once they are durable or buffered (see Pending), ErrRestart to resume
	// from the store, or another error to be offered the same records again
	// after a backoff; a failed Apply must have left nothing half-done.
	Apply(ctx context.Context, recs []Record) error
	// Pending says how many records are buffered and by when they must be
	// flushed (zero time: nothing is buffered).
	Pending() (n int, due time.Time)
	// Flush makes buffered records durable. It is retried on error, so it
	// must be idempotent; it may return ErrRestart.
	Flush(ctx context.Context) error
	// Drop forgets what is buffered for partitions this instance no longer
	// owns: the next owner resumes from the store.
	Drop(parts map[string][]int32)
	// Reset forgets everything buffered and every position: a new session
	// starts, and resumes from the store.
	Reset()
}

// Syncer is implemented by sinks whose Flush only starts making records
// durable: Sync waits for it and reports the outcome.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Verifier is implemented by sinks that can check, while nothing arrives,
// that the store still holds what they consumed: a replay may switch tables
// under a projector that has nothing to apply. Verify returns ErrRestart if
// the consumer must resume from the store.
type Verifier interface {
	Verify(ctx context.Context) error
}

// Observer receives what the loop sees, for metrics. Every method is called
// from the loop goroutine (but see BlockObserver); a nil Observer is allowed.
type Observer interface {
	// Applied is called after Apply or Flush succeeded with the records just
	// applied and the high watermarks seen with them.
	Applied(recs []Record, highWatermarks map[TP]int64)
	// Error counts a failure by kind ("fetch", "apply", "flush", "resume").
	Error(kind string)
}

// PositionObserver, if the Observer implements it, learns after every poll
// how far each partition has been read, control records (transaction
// markers) included: the records before those positions were all handed to
// Apply. Positions from data records alone can stop short of a partition's
// end offset forever, since a transactional partition ends with a marker.
type PositionObserver interface {
	Consumed(next map[TP]int64)
}
