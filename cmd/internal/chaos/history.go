package chaos

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
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
	perPart := map[int32][]schemas.Envelope{}
	h := &History{}
	err := logread.Read(ctx, brokers, topic, logread.LastStable, func(r *kgo.Record) error {
		e, err := schemas.Events.Decode(r.Value)
		if err != nil {
			h.Poison = append(h.Poison, Poison{Partition: r.Partition, Offset: r.Offset, Err: err.Error()})
			return nil
		}
		perPart[r.Partition] = append(perPart[r.Partition], e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range slices.Sorted(maps.Keys(perPart)) {
		h.Events = append(h.Events, perPart[p]...)
	}
	return h, nil
}
