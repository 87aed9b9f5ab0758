// Package idgen mints the snowflake ids of package schemas: one generator per
// node, strictly increasing, above a floor observed in the log, running ahead
// of a lagging clock rather than waiting for it.
package idgen

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bwmarrin/snowflake"

	"happychat/schemas"
)

// errOverflow reports that an id's millisecond no longer fits the 41 bits
// of the layout: the clock or an observed id is past the year 2080.
var errOverflow = errors.New("idgen: time overflows the id layout")

// Gen mints strictly increasing snowflake ids for one node, in
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
type Gen struct {
	mu   sync.Mutex
	node int64
	now  func() time.Time
	// floor is the greatest id issued or observed: the next id exceeds it.
	floor schemas.ID
	// last is the last id issued (0 before the first), for Ahead.
	last schemas.ID
}

// Option configures New.
type Option func(*Gen)

// WithClock replaces the wall clock (default time.Now); it is the test seam
// for clocks that stand still or lag. The function is called with and without
// the generator's lock held, so it must be safe for concurrent use.
func WithClock(now func() time.Time) Option {
	return func(g *Gen) {
		if now != nil {
			g.now = now
		}
	}
}

// New returns a generator for node (0..1023, see schemas.MaxRoomPartitions for the node id ranges).
func New(node int64, opts ...Option) (*Gen, error) {
	if nodeMax := int64(1)<<snowflake.NodeBits - 1; node < 0 || node > nodeMax {
		return nil, fmt.Errorf("snowflake node %d: must be between 0 and %d", node, nodeMax)
	}
	g := &Gen{node: node, now: time.Now}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Observe raises the floor: every later id is greater than id, whatever node
// minted it.
func (g *Gen) Observe(id schemas.ID) {
	g.mu.Lock()
	if id > g.floor {
		g.floor = id
	}
	g.mu.Unlock()
}

// Next returns a new id greater than every id issued or observed so far. It
// never waits: when the clock is behind the floor it runs ahead (see Gen).
// The only error is an id whose time no longer fits the layout.
func (g *Gen) Next() (schemas.ID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	// The smallest id of this node above the floor. Ids order by
	// millisecond, then node, then step: a floor minted by a lower node
	// leaves this node its whole millisecond, one minted by a higher node
	// (or this node's last step) none of it.
	ms, node, step := schemas.SplitID(g.floor)
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
		return 0, fmt.Errorf("%w: millisecond %d after the epoch, floor %d", errOverflow, ms, g.floor)
	}
	id := schemas.JoinID(ms, g.node, step)
	g.floor, g.last = id, id
	return id, nil
}

// Ahead returns how far the time of the last issued id is ahead of the clock
// now, 0 if it is not: how much a lagging clock made the generator run ahead.
func (g *Gen) Ahead() time.Duration {
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	if last == 0 {
		return 0
	}
	return max(schemas.IDTime(last).Sub(g.now()), 0)
}
