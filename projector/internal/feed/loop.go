package feed

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// verifyEvery is how long a quiet sink waits before verifying its store.
const verifyEvery = 5 * time.Second

// The feed's fetch batching (session): a fetch is answered once it has
// 64 KiB or after 100 ms. Measured in docs/benchmarks.md ("Batched
// projector fetches").
const (
	feedFetchMinBytes = 64 << 10
	feedFetchMaxWait  = 100 * time.Millisecond
)

// loop polls, decodes and applies until ctx ends or the sink asks for a
// restart. A partition that reaches an event this build does not know stops
// there (see Block); the others go on.
func loop(ctx context.Context, cfg Config, cl *kgo.Client, sink Sink, blocked *blocks) error {
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
		fetches := cl.PollRecords(pollCtx, pollSize(cfg.MaxPoll, n))
		cancel()
		if ctx.Err() != nil {
			allow()
			flushOnExit(ctx, cfg, sink)
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
		recs, err := blocked.filter(ctx, cl, recs, consumed)
		if err != nil {
			allow()
			return err
		}
		if len(recs) == 0 && idleCheck {
			cfg.Idle()
		}
		if len(recs) > 0 {
			lastActive = time.Now()
		} else if verifier != nil && verifyNow(lastActive, time.Now()) {
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
		if n, due := sink.Pending(); flushNow(n, due, time.Now(), cfg.MaxPoll) {
			if err := retry(ctx, cfg, "flush", func() error { return sink.Flush(ctx) }); err != nil {
				allow()
				return err
			}
		}
		report(cfg.Observer, recs, hwm, consumed)
		allow()
	}
}

// The loop's decisions are functions of their inputs (the clock's reading
// too), so that their boundaries are tested exactly rather than through
// polls timed against kfake.

// pollSize is how many records the next poll may take: what MaxPoll leaves
// beside the n buffered, but at least one, since PollRecords takes zero or
// less as no limit at all.
func pollSize(maxPoll, n int) int {
	return max(1, maxPoll-n)
}

// verifyNow says whether a verifying sink quiet since lastActive checks its
// store now.
func verifyNow(lastActive, now time.Time) bool {
	return now.Sub(lastActive) >= verifyEvery
}

// flushNow says whether the n buffered records, due by due, are flushed now:
// MaxPoll of them wait, or they are due.
func flushNow(n int, due, now time.Time, maxPoll int) bool {
	return n > 0 && (n >= maxPoll || !now.Before(due))
}

// report tells the observer what a poll brought. A poll that ended empty
// (its deadline passed) reports nothing: no high watermark came with it, and
// an empty report would only cost the observer a call per idle poll.
func report(o Observer, recs []Record, hwm, consumed map[TP]int64) {
	if o != nil && (len(recs) > 0 || len(hwm) > 0) {
		o.Applied(recs, hwm)
	}
	if po, ok := o.(PositionObserver); ok && len(consumed) > 0 {
		po.Consumed(consumed)
	}
}

// flushOnExit gives buffered records a last chance on shutdown: not needed
// for correctness (the next start resumes from the store), but it saves
// re-reading them.
func flushOnExit(ctx context.Context, cfg Config, sink Sink) {
	_, syncer := sink.(Syncer)
	if n, _ := sink.Pending(); n == 0 && !syncer {
		return
	}
	// ctx is done: keep its values, not its cancellation.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
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
