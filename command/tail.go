package command

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// fetchMaxBytes bounds one fetch of the tail and the owners' replays:
// franz-go's default (50 MB) is held in memory at once while catching up.
const fetchMaxBytes = 8 << 20

// tail reads every partition of the rooms topic, committed records only,
// from the offsets of the snapshots the instance started from, and folds
// them. Control records are kept so that its position reaches the last
// stable offset exactly.
type tail struct {
	svc *Service

	mu   sync.Mutex
	cond *sync.Cond
	pos  map[int32]int64 // next offset to read, per partition
	err  error
	// replayed counts the records folded since the start (for tests and
	// the start-up log: it measures what the snapshots saved).
	replayed int64
}

func newTail(svc *Service) *tail {
	t := &tail{svc: svc, pos: map[int32]int64{}}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *tail) run(ctx context.Context, start map[int32]int64) error {
	offsets := map[int32]kgo.Offset{}
	t.mu.Lock()
	for p, off := range start {
		t.pos[p] = off
		offsets[p] = kgo.NewOffset().At(off)
		if off == 0 {
			offsets[p] = kgo.NewOffset().AtStart()
		}
	}
	t.mu.Unlock()
	cl, err := kgo.NewClient(append(t.svc.baseOpts(),
		// Named apart from the owners' group member (whose client id the
		// takeover reads): the broker's request log tells the fetches apart.
		kgo.ClientID("happychat-command-tail"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.svc.cfg.Names.Rooms: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchMaxBytes(fetchMaxBytes),
	)...)
	if err != nil {
		return fmt.Errorf("tail client: %w", err)
	}
	defer cl.Close()
	defer func() {
		t.mu.Lock()
		t.err = errors.New("tail stopped")
		t.cond.Broadcast()
		t.mu.Unlock()
	}()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.svc.log.Warn("tail fetch", "topic", topic, "partition", p, "err", err)
		})
		var (
			switches []switchNeeded
			n        int64
		)
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			sw, folded := t.apply(fp.Partition, fp.Records)
			switches = append(switches, sw...)
			n += folded
		})
		t.mu.Lock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				t.pos[p.Partition] = p.Records[n-1].Offset + 1
			}
		})
		t.replayed += n
		t.cond.Broadcast()
		t.mu.Unlock()
		for _, sw := range switches {
			t.svc.requestSwitch(ctx, sw)
		}
	}
}

// apply decodes a partition's records (outside any lock) and folds them.
//
// A record that is not an event at all (malformed: no build of ours wrote
// it) is poison: counted and skipped, as the projectors dead-letter it. An
// event this build does not know (a type or version of a newer build) is
// skipped only when its seq is at or below its room's (it cannot be the
// room's next event); otherwise it blocks the partition: the fold stops
// there, the owner answers 503 and /readyz says why, until a build that
// understands it runs (docs/command.md, "Rolling upgrades"). Skipping it
// would let an owner stamp a seq that already exists.
func (t *tail) apply(part int32, recs []*kgo.Record) ([]switchNeeded, int64) {
	svc := t.svc
	events := make([]schemas.Envelope, 0, len(recs))
	var (
		switches []switchNeeded
		folded   int64
	)
	fold := func() error {
		sw, err := svc.fold.applyEvents(part, events)
		switches = append(switches, sw...)
		folded += int64(len(events))
		events = events[:0]
		return err
	}
	var err error
	for _, r := range recs {
		if r.Attrs.IsControl() {
			continue
		}
		env, derr := schemas.Events.Decode(r.Value)
		if derr == nil {
			events = append(events, env)
			continue
		}
		if err = fold(); err != nil {
			break
		}
		if svc.skippable(part, r.Value, derr) {
			svc.metrics.poison.Inc()
			svc.log.Warn("skipping a record that is not a next event of its room", "partition", part, "offset", r.Offset, "err", derr)
			continue
		}
		err = fmt.Errorf("partition %d offset %d: %w", part, r.Offset, derr)
		break
	}
	if err == nil {
		err = fold()
	}
	if err != nil && svc.fold.parts[part].blockedErr() == nil {
		svc.fold.block(part, err)
		svc.metrics.poison.Inc()
		svc.metrics.blocked.Inc()
		svc.log.Error("partition blocked: a record this build cannot fold; the partition is not served until a build that can runs",
			"partition", part, "err", err)
	}
	return switches, folded
}

// skippable reports whether an undecodable record can be skipped without
// missing an event: it is malformed, or names a seq its room already has.
func (s *Service) skippable(part int32, value []byte, err error) bool {
	if !errors.Is(err, schemas.ErrUnknownEvent) {
		return true
	}
	room, seq, ok := schemas.RoomSeqOf(value)
	if !ok {
		return true
	}
	r := s.fold.parts[part].room(room)
	return r != nil && seq <= r.seq
}

// waitFor blocks until the tail has read partition p up to offset end.
func (t *tail) waitFor(ctx context.Context, p int32, end int64) error {
	stop := context.AfterFunc(ctx, func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.pos[p] < end {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if t.err != nil {
			return t.err
		}
		if err := t.svc.fold.parts[p].blockedErr(); err != nil {
			return err
		}
		t.cond.Wait()
	}
	return t.svc.fold.parts[p].blockedErr()
}

// records returns how many records the tail folded since the start.
func (t *tail) records() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.replayed
}
