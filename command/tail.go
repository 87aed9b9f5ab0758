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

// tail reads every partition of the rooms topic from the start, committed
// records only, and folds them into the service's state. Control records
// are kept so that its position reaches the last stable offset exactly.
type tail struct {
	svc *Service

	mu   sync.Mutex
	cond *sync.Cond
	pos  map[int32]int64 // next offset to read, per partition
	err  error
}

func newTail(svc *Service) *tail {
	t := &tail{svc: svc, pos: map[int32]int64{}}
	t.cond = sync.NewCond(&t.mu)
	return t
}

func (t *tail) run(ctx context.Context, partitions int) error {
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(t.svc.baseOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.svc.cfg.Names.Rooms: offsets}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
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
		var switches []switchNeeded
		t.svc.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				switches = t.apply(r, switches)
			}
		})
		t.svc.mu.Unlock()
		t.mu.Lock()
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if n := len(p.Records); n > 0 {
				t.pos[p.Partition] = p.Records[n-1].Offset + 1
			}
		})
		t.cond.Broadcast()
		t.mu.Unlock()
		for _, sw := range switches {
			t.svc.requestSwitch(ctx, sw)
		}
	}
}

// apply folds one record (under svc.mu). Undecodable records are not ours
// to fix: they are logged, counted and skipped.
func (t *tail) apply(r *kgo.Record, switches []switchNeeded) []switchNeeded {
	svc := t.svc
	env, err := schemas.Events.Decode(r.Value)
	if err != nil {
		svc.metrics.poison.Inc()
		svc.log.Error("skipping undecodable record", "partition", r.Partition, "offset", r.Offset, "err", err)
		return switches
	}
	rm, ok := svc.rooms[env.RoomID]
	if !ok {
		rm = newRoom(env.RoomID)
		svc.rooms[env.RoomID] = rm
	}
	applied, err := rm.apply(env)
	if err != nil {
		svc.log.Error("room fold", "partition", r.Partition, "offset", r.Offset, "err", err)
		return switches
	}
	if !applied {
		return switches
	}
	if sw, ok := svc.users.apply(env); ok {
		switches = append(switches, sw)
	}
	return switches
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
		t.cond.Wait()
	}
	return nil
}
