package revoked

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// clockMargin widens the window read at start: a record's timestamp is
// its producer's clock, which may run behind this host's by a little.
const clockMargin = 5 * time.Minute

// TailConfig configures Tail.
type TailConfig struct {
	// Kafka are the client options: seed brokers, logger, TLS, dialer.
	Kafka []kgo.Opt
	// Topic is the users topic (schemas.Names.Users).
	Topic string
	// Window is the longest lifetime of a token (CHAT_TOKEN_TTL): a
	// revocation older than it revokes only expired tokens, so the tail
	// starts at now − Window (− a clock margin).
	Window time.Duration
	// Set receives the revocations and is marked ready once caught up.
	Set *Set
	// Log (default: discard) and Now (default: time.Now).
	Log *slog.Logger
	Now func() time.Time
}

// Tail reads the session.revoked events of the users topic into cfg.Set,
// from the first record at or after now − Window (Kafka's offsets for a
// timestamp) and then as they come, until ctx ends. It marks the set ready
// once it has read every partition up to the end offsets listed at its
// start. Other events are skipped by their type header, undecoded. It
// waits for the topic while it does not exist.
func Tail(ctx context.Context, cfg TailConfig) error {
	if cfg.Set == nil || cfg.Topic == "" || cfg.Window <= 0 {
		return errors.New("revoked: Set, Topic and a positive Window are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	from := cfg.Now().Add(-cfg.Window - clockMargin).UnixMilli()
	// AfterMilli as the reset offset: partitions added later are read
	// from the same timestamp (franz-go resolves it per partition).
	cl, err := kgo.NewClient(append(slices.Clone(cfg.Kafka),
		kgo.ClientID("happychat-revocations"),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(from)),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records (commit markers) advance the position like
		// any record: without them a partition whose last record is a
		// marker would never look caught up.
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("revoked: kafka client: %w", err)
	}
	defer cl.Close()
	pos, ends, err := bounds(ctx, kadm.NewClient(cl), cfg, from)
	if err != nil {
		return nil // ctx ended while waiting for the topic
	}
	caughtUp := func() bool {
		for p, end := range ends {
			if pos[p] < end {
				return false
			}
		}
		return true
	}
	if caughtUp() {
		cfg.Set.MarkReady()
	}
	var lastErrLog time.Time
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			if time.Since(lastErrLog) > 10*time.Second {
				lastErrLog = time.Now()
				cfg.Log.Warn("revoked: fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() || !isRevocation(r) {
				return
			}
			env, err := schemas.Events.Decode(r.Value)
			if err == nil {
				_, err = cfg.Set.Add(env)
			}
			if err != nil {
				// A revocation nobody can read cannot be enforced;
				// logged loudly, never a reason to stop enforcing
				// the others.
				cfg.Log.Error("revoked: unreadable session.revoked record skipped",
					"partition", r.Partition, "offset", r.Offset, "err", err)
			}
		})
		if !caughtUp() {
			continue
		}
		select {
		case <-cfg.Set.ready:
		default:
			cfg.Log.Info("revoked: caught up with the users topic", "revocations", cfg.Set.Len())
			cfg.Set.MarkReady()
		}
	}
}

// isRevocation reads the type header: the only events Tail decodes.
func isRevocation(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == schemas.HeaderType {
			return string(h.Value) == schemas.TypeSessionRevoked
		}
	}
	return false
}

// bounds lists, per partition, the first offset at or after from (where the
// client starts) and the end offset (high watermark) as of now, retrying
// while the topic is missing or the cluster does not answer.
func bounds(ctx context.Context, adm *kadm.Client, cfg TailConfig, from int64) (starts, ends map[int32]int64, err error) {
	var lastLog time.Time
	for {
		s, err := adm.ListOffsetsAfterMilli(ctx, from, cfg.Topic)
		if err == nil {
			err = s.Error()
		}
		var e kadm.ListedOffsets
		if err == nil {
			e, err = adm.ListEndOffsets(ctx, cfg.Topic)
		}
		if err == nil {
			err = e.Error()
		}
		if err == nil && len(e[cfg.Topic]) == 0 {
			err = errors.New("no partitions")
		}
		if err == nil {
			starts, ends = map[int32]int64{}, map[int32]int64{}
			s.Each(func(o kadm.ListedOffset) { starts[o.Partition] = o.Offset })
			e.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
			return starts, ends, nil
		}
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			cfg.Log.Warn("revoked: waiting for the users topic", "topic", cfg.Topic, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
