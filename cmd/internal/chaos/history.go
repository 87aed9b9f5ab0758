package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Poison is a record of the rooms topic that does not decode.
type Poison struct {
	Partition int32
	Offset    int64
	Err       string
}

// History is every committed record of the rooms topic: the events in log
// order (partition by partition, each in offset order, which is each
// room's order) and the records that do not decode.
type History struct {
	Events []schemas.Envelope
	Poison []Poison
}

// readHistory reads the rooms topic from the start up to its last stable
// offsets, read_committed: exactly what consumers may see. Aborted appends
// (a fenced owner's) are not in it.
func readHistory(ctx context.Context, brokers []string, topic string) (*History, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxBytes(32<<20))
	if err != nil {
		return nil, fmt.Errorf("history client: %w", err)
	}
	defer cl.Close()
	var ends kadm.ListedOffsets
	for {
		ends, err = kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	pos := map[int32]int64{}
	perPart := map[int32][]schemas.Envelope{}
	h := &History{}
	done := func() bool {
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if pos[o.Partition] < o.Offset {
				ok = false
			}
		})
		return ok
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("reading %s timed out at %v of %v", topic, pos, ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			e, err := schemas.Events.Decode(r.Value)
			if err != nil {
				h.Poison = append(h.Poison, Poison{Partition: r.Partition, Offset: r.Offset, Err: err.Error()})
				return
			}
			perPart[r.Partition] = append(perPart[r.Partition], e)
		})
	}
	for _, p := range slices.Sorted(maps.Keys(perPart)) {
		h.Events = append(h.Events, perPart[p]...)
	}
	return h, nil
}
