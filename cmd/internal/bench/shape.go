package bench

import (
	"fmt"
	"math/rand/v2"
)

// Load shapes: which member sends in each slot.
const (
	// ShapeRandom picks a uniformly random room, then a uniformly random
	// member of it, for every slot, from a PCG seeded with Config.Seed: every
	// room (so every room partition and its owner) receives sends all the
	// time, each room's arrivals close to Poisson. It is what independent
	// rooms do, and what ../shared/peers/limits does, so the two generators
	// offer the same load.
	ShapeRandom = "random"
	// ShapeRoundRobin is the shape of happychat-bench before issue 16:
	// slot k goes to member k mod (rooms × members), members ordered room by
	// room. At 50 × 20 and 1,000 sends/s each room gets a burst of 20 sends
	// in 20 ms once a second, so at any instant one room, one partition, is
	// busy: the best case for the command owners' per-partition batching.
	// Kept only to explain (and reproduce) figures taken with it.
	ShapeRoundRobin = "roundrobin"
)

// DefaultSeed is the picker's seed unless -seed says otherwise: a fixed
// one, so that two runs offer the same sequence of senders.
const DefaultSeed uint64 = 16

// picker chooses the sender of each slot. It is used by the scheduler's
// goroutine only.
type picker struct {
	shape          string
	rooms, members int
	rng            *rand.Rand
}

func newPicker(shape string, rooms, members int, seed uint64) (*picker, error) {
	if rooms <= 0 || members <= 0 {
		return nil, fmt.Errorf("picker: %d rooms × %d members", rooms, members)
	}
	switch shape {
	case ShapeRandom, ShapeRoundRobin:
	default:
		return nil, fmt.Errorf("-shape %q: %s or %s", shape, ShapeRandom, ShapeRoundRobin)
	}
	// The second word is derived from the first (as the peer does) so that
	// one number names the whole sequence.
	return &picker{shape: shape, rooms: rooms, members: members,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}, nil
}

// pick returns the room and the member (index within the room) that send
// slot k. Slots must be asked for in order (the random shape draws from
// the sequence).
func (p *picker) pick(k int64) (room, slot int) {
	if p.shape == ShapeRoundRobin {
		i := int(k % int64(p.rooms*p.members))
		return i / p.members, i % p.members
	}
	room = p.rng.IntN(p.rooms)
	return room, p.rng.IntN(p.members)
}
