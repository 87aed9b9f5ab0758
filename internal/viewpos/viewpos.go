// Package viewpos is read-your-writes between the write side and the
// PostgreSQL views. A command's answer names where its events lie in the
// log (Header: topic, partition, the offset after them); a read that passes
// that value back is answered only from views that include those events,
// after waiting for the projector a bounded time. The views trail the log
// by a fetch or two: without it, a client that joins a room and at once
// mutes it, or creates one and opens it, may be told "no such room".
//
// The value is opaque to clients but mergeable: a comma-separated list of
// topic:partition:offset, where a later write's entry for the same topic
// and partition carries the higher offset (Merge keeps the highest).
package viewpos

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Header carries a position: on command answers, where the command's
// events are; on reads, the position the answer must include.
const Header = "X-Happychat-Position"

// PGProjector is the PostgreSQL projector's name in its projector_offsets
// rows, whose next_offset per topic and partition is how far its views go.
const PGProjector = "postgres"

// Bounds of a position a read accepts: a client merges the positions of
// its writes, one entry per partition it wrote to.
const (
	maxEntries = 256
	maxLen     = 16384
)

// Wait is how long a read waits for the views to reach its position
// before it is answered 503 with Retry-After: a healthy projector is a
// fetch behind (milliseconds); seconds behind is an outage or a replay.
const Wait = 2 * time.Second

type key struct {
	topic string
	part  int32
}

// Position is a set of log positions: per topic partition, the offset just
// after the last event that must be visible.
type Position map[key]int64

// FromRecords is the position just after recs (committed, offsets set).
func FromRecords(recs []*kgo.Record) Position {
	p := Position{}
	for _, r := range recs {
		p.add(key{r.Topic, r.Partition}, r.Offset+1)
	}
	return p
}

func (p Position) add(k key, off int64) {
	if off > p[k] {
		p[k] = off
	}
}

// Merge adds q's entries to p, keeping the higher offset of each.
func (p Position) Merge(q Position) {
	for k, off := range q {
		p.add(k, off)
	}
}

// String is Header's value: entries sorted, so equal positions read equal.
func (p Position) String() string {
	keys := make([]key, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.part - b.part)
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d:%d", k.topic, k.part, p[k])
	}
	return b.String()
}

// Parse reads Header's value. Its errors are the contract's 400, naming
// the header and the rule.
func Parse(s string) (Position, error) {
	bad := func(rule string) error {
		return schemas.Errorf(schemas.CodeBadRequest, Header+": "+rule+" (pass back the value a command's answer carried)")
	}
	if len(s) > maxLen {
		return nil, bad(fmt.Sprintf("at most %d bytes", maxLen))
	}
	p := Position{}
	n := 0
	for entry := range strings.SplitSeq(s, ",") {
		if n++; n > maxEntries {
			return nil, bad(fmt.Sprintf("at most %d entries", maxEntries))
		}
		// Topic names hold no ':' (Kafka allows letters, digits, '.', '_'
		// and '-'), so the last two fields are the numbers.
		rest, offS, ok1 := cutLast(entry)
		topic, partS, ok2 := cutLast(rest)
		if !ok1 || !ok2 || !validTopic(topic) {
			return nil, bad("each entry is topic:partition:offset")
		}
		part, err1 := strconv.ParseInt(partS, 10, 32)
		off, err2 := strconv.ParseInt(offS, 10, 64)
		if err1 != nil || err2 != nil || part < 0 || off < 0 {
			return nil, bad("partition and offset are non-negative integers")
		}
		p.add(key{topic, int32(part)}, off)
	}
	return p, nil
}

// cutLast slices s around its last ':'.
func cutLast(s string) (before, after string, found bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

func validTopic(t string) bool {
	if t == "" || len(t) > 249 {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Querier is the one pgx call WaitPG makes (a pool or a connection).
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const sqlOffsets = `SELECT topic, partition, next_offset FROM projector_offsets
WHERE projector = $1 AND topic = ANY($2)`

// WaitHeader is WaitPG for a request's Header value: nil at once when the
// request carries none, or a value that is not a position. The header is
// advisory (the read is answered either way, only maybe staler), so a
// malformed one is ignored rather than refused: a 400 would put it ahead
// of the request's real errors (a missing token's 401).
func WaitHeader(ctx context.Context, db Querier, value string, views []string) error {
	if value == "" {
		return nil
	}
	p, err := Parse(value)
	if err != nil {
		return nil //nolint:nilerr // advisory: see above
	}
	return WaitPG(ctx, db, p, views, Wait)
}

// WaitPG returns once the PostgreSQL views include p: the projector's
// next offset of every partition in p of the topics the views fold (views)
// is at least p's. Entries of other topics are left out: they are no
// view's, or another deployment's (a client that outlived a reset), and
// waiting on them could only time out. It polls (every 5 ms, then slower)
// for at most wait, then answers 503 with Retry-After. A partition the
// projector has no row for yet is at 0.
func WaitPG(ctx context.Context, db Querier, p Position, views []string, wait time.Duration) error {
	want := Position{}
	var topics []string
	for k, off := range p {
		if slices.Contains(views, k.topic) {
			want[k] = off
			if !slices.Contains(topics, k.topic) {
				topics = append(topics, k.topic)
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	p = want
	deadline := time.Now().Add(wait)
	delay := 5 * time.Millisecond
	for {
		done, err := reached(ctx, db, p, topics)
		if err != nil || done {
			return err
		}
		if time.Now().Add(delay).After(deadline) {
			return &schemas.Error{Code: schemas.CodeUnavailable, RetryAfter: time.Second,
				Message: "the views have not caught up with the writes in " + Header + " yet, retry"}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the views to reach %s: %w", p, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func reached(ctx context.Context, db Querier, p Position, topics []string) (bool, error) {
	rows, err := db.Query(ctx, sqlOffsets, PGProjector, topics)
	if err != nil {
		return false, fmt.Errorf("read the views' positions: %w", err)
	}
	var (
		topic string
		part  int32
		next  int64
	)
	at := Position{}
	_, err = pgx.ForEachRow(rows, []any{&topic, &part, &next}, func() error {
		at[key{topic, part}] = next
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read the views' positions: %w", err)
	}
	for k, off := range p {
		if at[k] < off {
			return false, nil
		}
	}
	return true, nil
}

// recorderKey finds a request's Recorder in its context.
type recorderKey struct{}

// Recorder collects the positions of a request's commands (one request may
// run several: a room made and joined).
type Recorder struct {
	mu sync.Mutex
	p  Position
}

// WithRecorder returns ctx carrying a new Recorder.
func WithRecorder(ctx context.Context) (context.Context, *Recorder) {
	r := &Recorder{p: Position{}}
	return context.WithValue(ctx, recorderKey{}, r), r
}

// RecorderOf returns the Recorder of ctx, nil if it has none.
func RecorderOf(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// Note adds p to the Recorder of ctx, if it has one.
func Note(ctx context.Context, p Position) {
	r := RecorderOf(ctx)
	if r == nil || len(p) == 0 {
		return
	}
	r.mu.Lock()
	r.p.Merge(p)
	r.mu.Unlock()
}

// String is Header's value for what was noted, "" if nothing was (or r
// is nil).
func (r *Recorder) String() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.p.String()
}
