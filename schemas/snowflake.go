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

// errIDOverflow reports that an id's millisecond no longer fits the 41 bits
// of the layout: the clock or an observed id is past the year 2080.
var errIDOverflow = errors.New("snowflake: time overflows the id layout")

// IDGen mints strictly increasing snowflake ids for one node, in
// bwmarrin/snowflake's layout (milliseconds since snowflake.Epoch, then
// snowflake.NodeBits of node, then snowflake.StepBits of step).
//
// Besides its own ids, a generator must stay above a floor: ids observed in
// the log, such as the last id of a room minted by its previous owner on
// another machine, whose clock may be seconds ahead of ours. Waiting for our
// clock to pass the floor would stall every command of the partition (Next
// holds the lock) and refusing would fail them, so instead the generator runs
// ahead: it keeps the floor's millisecond and advances the step, moving to
// the next millisecond when the step is used up, until the clock passes the
// ids issued so far and is used again. The same happens when one millisecond
// is asked for more ids than the step holds. Order and uniqueness only need
// ids above the floor and distinct node ids; the price is that the time
// embedded in such ids is ahead of the local clock (by about the previous
// owner's clock skew), which Ahead reports so that it can be watched.
type IDGen struct {
	mu   sync.Mutex
	node int64
	now  func() time.Time
	// floor is the greatest id issued or observed: the next id exceeds it.
	floor ID
	// last is the last id issued (0 before the first), for Ahead.
	last ID
}

// IDGenOption configures NewIDGen.
type IDGenOption func(*IDGen)

// WithClock replaces the wall clock (default time.Now); it is the test seam
// for clocks that stand still or lag. The function is called with and without
// the generator's lock held, so it must be safe for concurrent use.
func WithClock(now func() time.Time) IDGenOption {
	return func(g *IDGen) {
		if now != nil {
			g.now = now
		}
	}
}

// NewIDGen returns a generator for node (0..1023, see the node id ranges).
func NewIDGen(node int64, opts ...IDGenOption) (*IDGen, error) {
	if nodeMax := int64(1)<<snowflake.NodeBits - 1; node < 0 || node > nodeMax {
		return nil, fmt.Errorf("snowflake node %d: must be between 0 and %d", node, nodeMax)
	}
	g := &IDGen{node: node, now: time.Now}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Observe raises the floor: every later id is greater than id, whatever node
// minted it.
func (g *IDGen) Observe(id ID) {
	g.mu.Lock()
	if id > g.floor {
		g.floor = id
	}
	g.mu.Unlock()
}

// Next returns a new id greater than every id issued or observed so far. It
// never waits: when the clock is behind the floor it runs ahead (see IDGen).
// The only error is an id whose time no longer fits the layout.
func (g *IDGen) Next() (ID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The smallest id of this node above the floor. Ids order by
	// millisecond, then node, then step: a floor minted by a lower node
	// leaves this node its whole millisecond, one minted by a higher node
	// (or this node's last step) none of it.
	ms, node, step := splitID(g.floor)
	switch {
	case node < g.node:
		step = 0
	case node == g.node && step < int64(1)<<snowflake.StepBits-1:
		step++
	default:
		ms, step = ms+1, 0
	}
	// The clock wins once it has passed that millisecond. A clock before the
	// epoch counts as the epoch: the floor still keeps ids increasing.
	if now := max(g.now().UnixMilli()-snowflake.Epoch, 0); now > ms {
		ms, step = now, 0
	}
	if ms > int64(1)<<(63-snowflake.NodeBits-snowflake.StepBits)-1 {
		return 0, fmt.Errorf("%w: millisecond %d after the epoch, floor %d", errIDOverflow, ms, g.floor)
	}
	id := joinID(ms, g.node, step)
	g.floor, g.last = id, id
	return id, nil
}

// Ahead returns how far the time of the last issued id is ahead of the clock
// now, 0 if it is not: how much a lagging clock made the generator run ahead.
func (g *IDGen) Ahead() time.Duration {
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	if last == 0 {
		return 0
	}
	return max(IDTime(last).Sub(g.now()), 0)
}

// splitID takes an id apart into milliseconds since snowflake.Epoch, node and
// step. The widths come from bwmarrin/snowflake so that the layout has one
// definition.
func splitID(id ID) (ms, node, step int64) {
	v := int64(id)
	ms = v >> (snowflake.NodeBits + snowflake.StepBits)
	node = (v >> snowflake.StepBits) & (int64(1)<<snowflake.NodeBits - 1)
	step = v & (int64(1)<<snowflake.StepBits - 1)
	return ms, node, step
}

// joinID is the inverse of splitID; its arguments must be in range.
func joinID(ms, node, step int64) ID {
	return ID(ms<<(snowflake.NodeBits+snowflake.StepBits) | node<<snowflake.StepBits | step)
}

// IDTime returns the creation time embedded in a snowflake id. For an id
// minted while its generator ran ahead, it is ahead of the wall clock of the
// moment.
func IDTime(id ID) time.Time {
	ms, _, _ := splitID(id)
	return time.UnixMilli(ms + snowflake.Epoch)
}

// IDAt returns the smallest id that any node could mint at t: useful as a
// keyset bound for time ranges.
func IDAt(t time.Time) ID {
	return joinID(max(t.UnixMilli()-snowflake.Epoch, 0), 0, 0)
}
