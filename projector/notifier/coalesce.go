package notifier

import (
	"cmp"
	"slices"
	"time"

	"happychat/schemas"
)

// message is what a push tells of one sent message.
type message struct {
	room      schemas.ID
	id        schemas.ID
	seq       int64
	sender    schemas.ID
	nickname  string
	text      string // softened
	mentions  []schemas.ID
	sentAt    time.Time
	roomTitle string
}

// decide returns who is pushed m among the room's recipients: not the
// sender, not one who muted the room unless m mentions them, and nobody
// whose watermark already covers m (a record read again after a restart).
func decide(m message, rs []recipient) []schemas.ID {
	var out []schemas.ID
	for _, r := range rs {
		switch {
		case r.user == m.sender, m.seq <= r.watermark:
		case r.muted && !slices.Contains(m.mentions, r.user):
		default:
			out = append(out, r.user)
		}
	}
	return out
}

// key is what pushes are coalesced by: one user's notifications of one room.
type key struct{ user, room schemas.ID }

// pending is the push a key will get when its window closes: the latest
// message, how many were sent in the window, and whether any mentioned the
// user (a mention is pushed with high urgency even when the room is muted).
type pending struct {
	key
	latest   message
	count    int
	mention  bool
	deadline time.Time
}

// coalescer gathers the messages of each key for a window from the first
// one, then hands them out as one pending push. Not safe for concurrent use:
// the consuming loop owns it.
type coalescer struct {
	window time.Duration
	byKey  map[key]*pending
}

func newCoalescer(window time.Duration) *coalescer {
	return &coalescer{window: window, byKey: map[key]*pending{}}
}

// add counts m for user. A message that is not newer than the one held
// (a redelivery) is not counted twice.
func (c *coalescer) add(user schemas.ID, m message, now time.Time) {
	k := key{user: user, room: m.room}
	p, ok := c.byKey[k]
	if !ok {
		p = &pending{key: k, deadline: now.Add(c.window)}
		c.byKey[k] = p
	} else if m.seq <= p.latest.seq {
		return
	}
	p.latest = m
	p.count++
	p.mention = p.mention || slices.Contains(m.mentions, user)
}

// due removes and returns the pushes whose window closed by now, in
// (user, room) order.
func (c *coalescer) due(now time.Time) []pending {
	var out []pending
	for k, p := range c.byKey {
		if !p.deadline.After(now) {
			out = append(out, *p)
			delete(c.byKey, k)
		}
	}
	slices.SortFunc(out, func(a, b pending) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.room, b.room))
	})
	return out
}

// len is the number of pushes waiting.
func (c *coalescer) len() int { return len(c.byKey) }
