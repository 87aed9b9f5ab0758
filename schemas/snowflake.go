package schemas

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bwmarrin/snowflake"
)

// Node id ranges. Snowflakes carry a 10-bit node id, and two live generators
// with the same node id could mint the same id in the same millisecond. The
// ranges split the space so that collisions are impossible by construction:
//
//   - Room events (messages, joins, leaves) are minted by the owner of the
//     room's partition with node id = partition number. A partition has one
//     owner at a time; a stale owner that still mints with the same node id is
//     fenced by its transactional producer, so its ids never reach the log.
//   - Everything else (user ids, room ids, user-topic events) is minted with
//     node id = InstanceNodeBase + the instance id configured for the process
//     (CHAT_INSTANCE_ID), which operators keep unique among live instances.
const (
	// MaxRoomPartitions bounds the rooms topic so that partition node ids
	// stay below InstanceNodeBase.
	MaxRoomPartitions = 512
	// InstanceNodeBase is the first node id of the per-instance range.
	InstanceNodeBase = 512
	// MaxInstanceID is the largest configurable instance id.
	MaxInstanceID = 1023 - InstanceNodeBase
)

// ErrClockBackwards is returned when the wall clock is behind the newest id
// this generator must exceed and does not catch up within the allowed wait.
var ErrClockBackwards = errors.New("snowflake: clock is behind the last issued id")

// IDGen mints strictly increasing snowflake ids for one node. It wraps
// bwmarrin/snowflake (which is monotonic within a process) with a floor: ids
// observed in the log (for instance, the last id of a room minted by a
// previous owner on another machine whose clock ran ahead) must never be
// re-issued, so Next waits for the clock to pass the floor, up to MaxWait,
// and refuses after that.
type IDGen struct {
	mu      sync.Mutex
	node    *snowflake.Node
	floor   ID
	maxWait time.Duration
	sleep   func(time.Duration)
}

// NewIDGen returns a generator for node (0..1023). maxWait bounds how long
// Next waits for a lagging clock (0 means 2 s).
func NewIDGen(node int64, maxWait time.Duration) (*IDGen, error) {
	n, err := snowflake.NewNode(node)
	if err != nil {
		return nil, fmt.Errorf("snowflake node %d: %w", node, err)
	}
	if maxWait <= 0 {
		maxWait = 2 * time.Second
	}
	return &IDGen{node: n, maxWait: maxWait, sleep: time.Sleep}, nil
}

// Observe raises the floor: every later id is greater than id.
func (g *IDGen) Observe(id ID) {
	g.mu.Lock()
	if id > g.floor {
		g.floor = id
	}
	g.mu.Unlock()
}

// Next returns a new id greater than every id issued or observed so far.
func (g *IDGen) Next() (ID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	deadline := time.Now().Add(g.maxWait)
	for {
		id := ID(g.node.Generate().Int64())
		if id > g.floor {
			g.floor = id
			return id, nil
		}
		// The floor's millisecond is ahead of our clock: wait it out, unless
		// the wait cannot end before the deadline. Failing at once matters:
		// Next holds the lock, so a hopeless wait would stall every caller.
		ahead := IDTime(g.floor).Sub(IDTime(id))
		if ahead < time.Millisecond {
			ahead = time.Millisecond
		}
		if time.Now().Add(ahead).After(deadline) {
			return 0, fmt.Errorf("%w: floor %d is %v ahead of generated %d", ErrClockBackwards, g.floor, ahead, id)
		}
		g.sleep(ahead)
	}
}

// IDTime returns the creation time embedded in a snowflake id.
func IDTime(id ID) time.Time {
	return time.UnixMilli(snowflake.ID(id).Time())
}

// IDAt returns the smallest id that any node could mint at t: useful as a
// keyset bound for time ranges.
func IDAt(t time.Time) ID {
	ms := t.UnixMilli() - snowflake.Epoch
	if ms < 0 {
		ms = 0
	}
	return ID(ms << (snowflake.NodeBits + snowflake.StepBits))
}
