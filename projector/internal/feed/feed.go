package feed

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

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
	blocked := newBlocks(cfg.Observer, cfg.Log, sink, func(fn func() error) error { return retry(ctx, cfg, "resume", fn) })
	defer blocked.releaseAll()
	opts := slices.Clone(cfg.Opts)
	// Named by its group, so that the broker's request log and quotas tell
	// the projectors apart (the default is "kgo" for every client).
	name := cfg.Group
	if name == "" {
		name = "direct"
	}
	opts = append(opts,
		kgo.ClientID("happychat-feed-"+name),
		// The command service appends in transactions; an aborted append
		// (a fenced stale owner) must never reach a view.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Transaction markers are kept (and skipped by Decode) so that a
		// consumer's position can reach a partition's end offset, which a
		// commit marker usually is: see PositionObserver.
		kgo.KeepControlRecords(),
		// A fetch per committed transaction (the default: any byte answers
		// at once) cost a broker request and a view transaction for a
		// handful of events; waiting up to FetchMaxWait for FetchMinBytes
		// fills both. The views trail the log by at most that much more,
		// and clients that must see their own writes pass the position
		// (X-Happychat-Position, docs/query.md) and are held until the
		// views reach it.
		kgo.FetchMinBytes(feedFetchMinBytes),
		kgo.FetchMaxWait(feedFetchMaxWait),
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
			kgo.OnPartitionsRevoked(func(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
				sink.Drop(parts)
				blocked.release(cl, parts)
			}),
			kgo.OnPartitionsLost(func(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
				cfg.Log.Warn("partitions lost", "group", cfg.Group, "partitions", parts)
				sink.Drop(parts)
				blocked.release(cl, parts)
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
	return loop(ctx, cfg, cl, sink, blocked)
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
	cfg.Log.Info("resuming from the store", "group", cfg.Group, "offsets", stored)
	return resumeOffsets(parts, stored), nil
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
	return resumeOffsets(parts, stored), nil
}

// resumeOffsets turns the store's positions into the offsets each partition
// is fetched from: a partition the store has no position for starts at the
// beginning of the log. The epoch is unknown (-1): the position comes from
// the store, not from a fetch of this client.
func resumeOffsets(parts map[string][]int32, stored map[string]map[int32]int64) map[string]map[int32]kgo.Offset {
	out := make(map[string]map[int32]kgo.Offset, len(parts))
	for t, ps := range parts {
		out[t] = make(map[int32]kgo.Offset, len(ps))
		for _, p := range ps {
			if off, ok := stored[t][p]; ok {
				out[t][p] = kgo.NewOffset().At(off).WithEpoch(-1)
			} else {
				out[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}
	return out
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
