package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

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
	// a poison record, to be recorded and skipped.
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

// verifyEvery is how long a quiet sink waits before verifying its store.
const verifyEvery = 5 * time.Second

// Observer receives what the loop sees, for metrics. Every method is called
// from the loop goroutine; a nil Observer is allowed.
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

// Config says what to consume and how.
type Config struct {
	// Opts are the base client options (seed brokers, logger, ...).
	Opts []kgo.Opt
	// Group, when set, spreads partitions among the instances sharing it;
	// when empty every partition of Topics is consumed from its resume
	// position by this instance alone (the replay).
	Group string
	// InstanceID, with a Group, makes the membership static: a restarted
	// instance takes its partitions back at once instead of waiting for the
	// session timeout of its previous life. Must be unique among live
	// instances of the group.
	InstanceID string
	Topics     []string
	// MaxPoll bounds the records handed to one Apply (default 500).
	MaxPoll int
	// Registry decodes the records (default schemas.Events).
	Registry *schemas.Registry
	Log      *slog.Logger
	Observer Observer
	// Idle, if set, is called from the loop after a poll that returned no
	// records within IdleAfter (default 500 ms): the replay uses it to notice
	// that it reached the end of the log.
	Idle      func()
	IdleAfter time.Duration
	// SessionTimeout of the group (default: the client's, 45 s).
	SessionTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxPoll <= 0 {
		c.MaxPoll = 500
	}
	if c.Registry == nil {
		c.Registry = schemas.Events
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.IdleAfter <= 0 {
		c.IdleAfter = 500 * time.Millisecond
	}
}

// Run consumes until ctx ends, restarting its Kafka session whenever the
// sink asks for it or the session breaks. It returns nil when ctx ends; it
// never gives up on a transient failure of Kafka or of the store.
func Run(ctx context.Context, cfg Config, sink Sink) error {
	cfg.setDefaults()
	if len(cfg.Topics) == 0 {
		return errors.New("feed: no topics")
	}
	bo := backoff{}
	for {
		err := session(ctx, cfg, sink)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRestart) {
			cfg.Log.Warn("restarting the consumer session: stored positions changed", "group", cfg.Group)
			bo.reset()
		} else {
			cfg.Log.Error("consumer session failed, restarting", "group", cfg.Group, "err", err)
			if cfg.Observer != nil {
				cfg.Observer.Error("session")
			}
		}
		if !bo.wait(ctx) {
			return nil
		}
	}
}

// session runs one Kafka client until ctx ends or the sink asks to restart.
func session(ctx context.Context, cfg Config, sink Sink) error {
	sink.Reset()
	opts := slices.Clone(cfg.Opts)
	opts = append(opts,
		// The command service appends in transactions; an aborted append
		// (a fenced stale owner) must never reach a view.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Transaction markers are kept (and skipped by Decode) so that a
		// consumer's position can reach a partition's end offset, which a
		// commit marker usually is: see PositionObserver.
		kgo.KeepControlRecords(),
	)
	if cfg.Group != "" {
		opts = append(opts,
			kgo.ConsumeTopics(cfg.Topics...),
			kgo.ConsumerGroup(cfg.Group),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			// Offsets live in the store: whatever Kafka thinks was committed
			// (nothing, we never commit) is replaced by the store's positions.
			kgo.AdjustFetchOffsetsFn(func(ctx context.Context, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
				return adjust(ctx, cfg, sink, assigned)
			}),
			// Registering it gates the assignment behind AllowRebalance too.
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
				cfg.Log.Info("partitions assigned", "group", cfg.Group, "partitions", parts)
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
				sink.Drop(parts)
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
				cfg.Log.Warn("partitions lost", "group", cfg.Group, "partitions", parts)
				sink.Drop(parts)
			}),
		)
		if cfg.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(cfg.InstanceID))
		}
		if cfg.SessionTimeout > 0 {
			opts = append(opts, kgo.SessionTimeout(cfg.SessionTimeout))
		}
	} else {
		start, err := directStart(ctx, cfg, sink)
		if err != nil {
			return err
		}
		opts = append(opts, kgo.ConsumePartitions(start))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	// Close leaves the group (unless the membership is static), so that the
	// partitions move on at once; what a sink still buffers is dropped, the
	// next owner resumes from the store.
	defer cl.Close()
	return loop(ctx, cfg, cl, sink)
}

// adjust replaces the group's (absent) committed offsets by the store's.
func adjust(ctx context.Context, cfg Config, sink Sink, assigned map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	parts := make(map[string][]int32, len(assigned))
	for t, ps := range assigned {
		parts[t] = slices.Sorted(maps.Keys(ps))
	}
	stored, err := resumeWithRetry(ctx, cfg, sink, parts)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[int32]kgo.Offset, len(assigned))
	for t, ps := range assigned {
		out[t] = make(map[int32]kgo.Offset, len(ps))
		for p := range ps {
			if off, ok := stored[t][p]; ok {
				out[t][p] = kgo.NewOffset().At(off).WithEpoch(-1)
			} else {
				out[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	cfg.Log.Info("resuming from the store", "group", cfg.Group, "offsets", stored)
	return out, nil
}

// directStart lists every partition of the topics and asks the sink where
// each resumes.
func directStart(ctx context.Context, cfg Config, sink Sink) (map[string]map[int32]kgo.Offset, error) {
	parts, err := ListPartitions(ctx, cfg.Opts, cfg.Topics)
	if err != nil {
		return nil, err
	}
	stored, err := resumeWithRetry(ctx, cfg, sink, parts)
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]kgo.Offset{}
	for t, ps := range parts {
		out[t] = map[int32]kgo.Offset{}
		for _, p := range ps {
			if off, ok := stored[t][p]; ok {
				out[t][p] = kgo.NewOffset().At(off).WithEpoch(-1)
			} else {
				out[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return out, nil
}

func resumeWithRetry(ctx context.Context, cfg Config, sink Sink, parts map[string][]int32) (map[string]map[int32]int64, error) {
	bo := backoff{}
	for {
		stored, err := sink.Resume(ctx, parts)
		if err == nil {
			return stored, nil
		}
		cfg.Log.Error("reading stored positions failed, retrying", "err", err)
		if cfg.Observer != nil {
			cfg.Observer.Error("resume")
		}
		if !bo.wait(ctx) {
			return nil, ctx.Err()
		}
	}
}

// loop polls, decodes and applies until ctx ends or the sink asks for a
// restart.
func loop(ctx context.Context, cfg Config, cl *kgo.Client, sink Sink) error {
	grouped := cfg.Group != ""
	allow := func() {
		if grouped {
			cl.AllowRebalance()
		}
	}
	verifier, _ := sink.(Verifier)
	lastActive := time.Now()
	for {
		n, due := sink.Pending()
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		idleCheck := false
		switch {
		case !due.IsZero():
			pollCtx, cancel = context.WithDeadline(ctx, due)
		case cfg.Idle != nil:
			pollCtx, cancel = context.WithTimeout(ctx, cfg.IdleAfter)
			idleCheck = true
		case verifier != nil:
			pollCtx, cancel = context.WithDeadline(ctx, lastActive.Add(verifyEvery))
		}
		fetches := cl.PollRecords(pollCtx, max(1, cfg.MaxPoll-n))
		cancel()
		if ctx.Err() != nil {
			allow()
			flushOnExit(cfg, sink)
			return ctx.Err()
		}
		if fetches.IsClientClosed() {
			return errors.New("kafka client closed")
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return
			}
			cfg.Log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			if cfg.Observer != nil {
				cfg.Observer.Error("fetch")
			}
		})
		recs, hwm, consumed := Decode(cfg.Registry, fetches)
		if len(recs) == 0 && idleCheck {
			cfg.Idle()
		}
		if len(recs) > 0 {
			lastActive = time.Now()
		} else if verifier != nil && time.Since(lastActive) >= verifyEvery {
			lastActive = time.Now()
			if err := verifier.Verify(ctx); errors.Is(err, ErrRestart) {
				allow()
				return err
			} else if err != nil && ctx.Err() == nil {
				cfg.Log.Warn("verifying the stored positions failed", "err", err)
			}
		}
		if len(recs) > 0 {
			if err := retry(ctx, cfg, "apply", func() error { return sink.Apply(ctx, recs) }); err != nil {
				allow()
				return err
			}
		}
		if n, due := sink.Pending(); n > 0 && (n >= cfg.MaxPoll || !time.Now().Before(due)) {
			if err := retry(ctx, cfg, "flush", func() error { return sink.Flush(ctx) }); err != nil {
				allow()
				return err
			}
		}
		if cfg.Observer != nil && (len(recs) > 0 || len(hwm) > 0) {
			cfg.Observer.Applied(recs, hwm)
		}
		if po, ok := cfg.Observer.(PositionObserver); ok && len(consumed) > 0 {
			po.Consumed(consumed)
		}
		allow()
	}
}

// flushOnExit gives buffered records a last chance on shutdown: not needed
// for correctness (the next start resumes from the store), but it saves
// re-reading them.
func flushOnExit(cfg Config, sink Sink) {
	_, syncer := sink.(Syncer)
	if n, _ := sink.Pending(); n == 0 && !syncer {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := sink.Flush(ctx)
	if s, ok := sink.(Syncer); ok && err == nil {
		err = s.Sync(ctx)
	}
	if err != nil && !errors.Is(err, ErrRestart) {
		cfg.Log.Warn("final flush failed; the next start re-reads those records", "err", err)
	}
}

// retry runs fn until it succeeds, asks for a restart, or ctx ends. A store
// that is down only delays the projector: it never exits for it.
func retry(ctx context.Context, cfg Config, kind string, fn func() error) error {
	bo := backoff{}
	for {
		err := fn()
		if err == nil || errors.Is(err, ErrRestart) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cfg.Log.Error("projector "+kind+" failed, retrying", "err", err, "attempt", bo.n+1)
		if cfg.Observer != nil {
			cfg.Observer.Error(kind)
		}
		if !bo.wait(ctx) {
			return ctx.Err()
		}
	}
}

// Decode turns polled records into Records, and collects the high
// watermarks seen per partition. A record that does not decode is kept, with
// Err set, so that the sink records it as poison and moves past it.
func Decode(reg *schemas.Registry, fetches kgo.Fetches) ([]Record, map[TP]int64, map[TP]int64) {
	raw := make([]*kgo.Record, 0, fetches.NumRecords())
	hwm := map[TP]int64{}
	consumed := map[TP]int64{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err == nil {
			hwm[TP{p.Topic, p.Partition}] = p.HighWatermark
		}
		if n := len(p.Records); n > 0 {
			consumed[TP{p.Topic, p.Partition}] = p.Records[n-1].Offset + 1
		}
		for _, r := range p.Records {
			if !r.Attrs.IsControl() {
				raw = append(raw, r)
			}
		}
	})
	recs := make([]Record, len(raw))
	decode := func(from, to int) {
		for i := from; i < to; i++ {
			r := raw[i]
			recs[i] = DecodeRecord(reg, r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
	}
	// Decoding is most of a replay's CPU: large polls use every CPU.
	workers := runtime.GOMAXPROCS(0)
	if len(raw) < parallelDecode || workers < 2 {
		decode(0, len(raw))
		return recs, hwm, consumed
	}
	var wg sync.WaitGroup
	size := (len(raw) + workers - 1) / workers
	for from := 0; from < len(raw); from += size {
		wg.Go(func() { decode(from, min(from+size, len(raw))) })
	}
	wg.Wait()
	return recs, hwm, consumed
}

// parallelDecode is the poll size from which decoding is spread over CPUs.
const parallelDecode = 2000

// DecodeRecord decodes one record; Err is set if it is poison.
func DecodeRecord(reg *schemas.Registry, topic string, partition int32, offset int64, key, value []byte) Record {
	rec := Record{Topic: topic, Partition: partition, Offset: offset, Key: key, Value: value}
	env, err := reg.Decode(value)
	if err != nil {
		rec.Err = err
		return rec
	}
	rec.Env = env
	return rec
}

// backoff waits 100 ms, 200 ms, ... up to 5 s, with jitter.
type backoff struct{ n int }

func (b *backoff) reset() { b.n = 0 }

func (b *backoff) wait(ctx context.Context) bool {
	d := 100 * time.Millisecond << min(b.n, 6)
	d = min(d, 5*time.Second)
	d = d/2 + rand.N(d/2+1)
	b.n++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
