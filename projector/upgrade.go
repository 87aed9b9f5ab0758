package projector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/fleet"
	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// Rolling upgrades (docs/command.md, "Rolling upgrades"): a projector
// advertises the feature level its build understands while it runs, refuses
// to start below the cluster's level, and stops a partition at an event it
// does not know rather than dead-lettering it (feed.Block).

// advertise runs work while the projector's instance is advertised on the
// features topic (internal/fleet) as role with the build's level.
func advertise(ctx context.Context, opts []kgo.Opt, names schemas.Names, role, instance string, level int, work func(context.Context) error) error {
	return fleet.Run(ctx, fleet.Config{
		Kafka: opts, Topic: names.Features, Role: role, Instance: instance,
		Level: buildLevel(level),
	}, work)
}

// buildLevel is the level a projector advertises: its configured one (a
// test running a newer registry) or the build's.
func buildLevel(configured int) int {
	if configured > 0 {
		return configured
	}
	return schemas.FeatureLevel
}

// blockedSet is the partitions one projector has stopped at an event its
// build does not know, for /readyz and the blocked-partitions gauge.
type blockedSet struct {
	name  string
	gauge prometheus.Gauge

	mu sync.Mutex
	at map[feed.TP]feed.Block
}

func newBlockedSet(m *metrics, name string) *blockedSet {
	return &blockedSet{name: name, gauge: m.blocked.WithLabelValues(name), at: map[feed.TP]feed.Block{}}
}

// Blocked implements feed.BlockObserver.
func (b *blockedSet) Blocked(bl feed.Block) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.at[bl.TP] = bl
	b.gauge.Set(float64(len(b.at)))
}

// Unblocked implements feed.BlockObserver.
func (b *blockedSet) Unblocked(tps []feed.TP) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, tp := range tps {
		delete(b.at, tp)
	}
	b.gauge.Set(float64(len(b.at)))
}

// ready reports the blocked partitions as an error (nil: none).
func (b *blockedSet) ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.at) == 0 {
		return nil
	}
	var parts []string
	for _, bl := range b.at {
		parts = append(parts, fmt.Sprintf("%s/%d at offset %d", bl.Topic, bl.Partition, bl.Offset))
	}
	slices.Sort(parts)
	return fmt.Errorf("%s projector: partitions blocked at an event this build does not know (run a newer build): %s",
		b.name, strings.Join(parts, ", "))
}

// errReplayBlocked ends a replay that met an event its build does not know:
// the rebuilt views would miss it and everything after it on its partition.
var errReplayBlocked = errors.New("replay stopped at an event this build does not know: run the replay with a newer build")

// blockingObserver is an observer that also keeps the blocked partitions.
type blockingObserver struct {
	observer
	*blockedSet
}

// RoomSeq implements feed.RoomSeqs: the room's last applied seq.
func (s *pgSink) RoomSeq(ctx context.Context, room schemas.ID) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(last_seq), 0) FROM rooms WHERE room_id = $1`, int64(room)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("room %d seq: %w", room, err)
	}
	return seq, nil
}

// RoomSeq implements feed.RoomSeqs: the room's highest indexed seq.
func (s *chSink) RoomSeq(ctx context.Context, room schemas.ID) (int64, error) {
	var seq uint64
	err := s.conn.QueryRow(ctx, `SELECT max(seq) FROM `+s.tables.events+` WHERE room_id = ?`, uint64(room)).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("room %d seq: %w", room, err)
	}
	return int64(seq), nil
}
