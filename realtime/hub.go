package realtime

import (
	"log/slog"
	"sync"
	"time"

	"happychat/schemas"
)

// hub is the room → sockets index of one instance. The tail dispatches every
// room event to it in log order; sockets register, resume and leave through
// it. One mutex guards everything here: dispatch holds it only to update a
// room and offer a shared frame to each live socket without blocking.
//
// A room is tracked while this instance has interest in it (a handshake in
// progress or an open socket) and for a grace period after, so that a quick
// reconnect finds the recent-events ring still warm. Events of untracked
// rooms are skipped without rendering.
type hub struct {
	mu      sync.Mutex
	rooms   map[schemas.ID]*room
	ringCap int
	grace   time.Duration
	mod     Moderation
	m       *metrics
	log     *slog.Logger
}

// room is one tracked room.
type room struct {
	// head is the highest seq the tail dispatched since the room began to be
	// tracked; 0 means none yet. Everything the resume logic proves rests on
	// this: the tail dispatches a tracked room's events in seq order, so
	// every event above head is still to come.
	head     int64
	ring     *ring
	subs     map[*conn]struct{} // live sockets
	interest int                // handshakes in progress + open sockets
	idle     time.Time          // when interest last dropped to zero
	// blocked: the log holds an event of the room this build does not know
	// above head; nothing after it is delivered (see hub.block).
	blocked bool
	// ahead holds local events (local.go) past head+1 until the events
	// before them are dispatched, by either path: the answers to a split
	// instance's sends arrive in any order (at most localAhead).
	ahead map[int64]schemas.Envelope
}

// localAhead bounds a room's local events waiting for the gap before them;
// past it they are left to the tail.
const localAhead = 32

func newHub(ringCap int, grace time.Duration, mod Moderation, m *metrics, log *slog.Logger) *hub {
	return &hub{rooms: map[schemas.ID]*room{}, ringCap: ringCap, grace: grace, mod: mod, m: m, log: log}
}

// acquire marks interest in a room. A handshake calls it before asking for
// the presence snapshot, so that every event committed after the snapshot
// is dispatched while the room is tracked.
func (h *hub) acquire(id schemas.ID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		r = &room{ring: newRing(h.ringCap), subs: map[*conn]struct{}{}}
		h.rooms[id] = r
	}
	r.interest++
}

// release ends interest taken with acquire (and removes c if it was live).
func (h *hub) release(id schemas.ID, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil {
		return
	}
	if c != nil {
		delete(r.subs, c)
	}
	r.interest--
	if r.interest == 0 {
		r.idle = time.Now()
	}
}

// sweep stops tracking rooms nobody has wanted for the grace period.
func (h *hub) sweep(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, r := range h.rooms {
		if r.interest == 0 && now.Sub(r.idle) >= h.grace {
			delete(h.rooms, id)
		}
	}
}

// tracked reports whether the hub wants the events of a room. A record
// skipped because its room was not tracked counts as dispatched before
// tracking began, which hub.step already allows for.
func (h *hub) tracked(id schemas.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[id] != nil
}

// dispatch applies one room event from the tail: it advances the room's
// head, keeps the ring, and offers the frame to every live socket. A socket
// whose queue is full is cut off (it resumes by seq); the room never waits.
func (h *hub) dispatch(env schemas.Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[env.RoomID]
	if r == nil || r.blocked {
		return
	}
	if env.Seq <= r.head {
		// A duplicate: the log is at-least-once for consumers, and a
		// local delivery (local.go) may have come first.
		return
	}
	h.dispatchLocked(r, env)
	h.drainAhead(r)
}

// delivered reports whether the room's seq was dispatched already: the
// tail then skips it before opening its texts.
func (h *hub) delivered(id schemas.ID, seq int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	return r != nil && r.head > 0 && seq <= r.head
}

// dispatchNext dispatches a locally committed event (local.go) when it is
// its room's next one after a head the tail or an earlier local event set,
// or holds it in the room's ahead while the events before it are still to
// come (then they release it, whichever path brings them). It returns
// localTaken, or why the event is the tail's to deliver: a room with no
// head yet, a duplicate, a full ahead.
func (h *hub) dispatchNext(env schemas.Envelope) localSkip {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[env.RoomID]
	switch {
	case r == nil || r.head == 0:
		return skipNoHead
	case r.blocked:
		return skipBlocked
	case env.Seq <= r.head:
		return skipDelivered
	}
	if env.Seq > r.head+1 {
		if _, held := r.ahead[env.Seq]; held {
			return skipHeld
		}
		if len(r.ahead) >= localAhead {
			return skipAheadFull
		}
		if r.ahead == nil {
			r.ahead = map[int64]schemas.Envelope{}
		}
		r.ahead[env.Seq] = env
		return localTaken
	}
	h.dispatchLocked(r, env)
	h.drainAhead(r)
	return localTaken
}

// drainAhead dispatches the held local events that follow the head, in
// seq order, and forgets those the tail delivered first.
func (h *hub) drainAhead(r *room) {
	if len(r.ahead) == 0 {
		return
	}
	for !r.blocked {
		env, ok := r.ahead[r.head+1]
		if !ok {
			break
		}
		delete(r.ahead, env.Seq)
		h.dispatchLocked(r, env)
	}
	for seq := range r.ahead {
		if seq <= r.head {
			delete(r.ahead, seq)
		}
	}
}

func (h *hub) dispatchLocked(r *room, env schemas.Envelope) {
	if r.head > 0 && env.Seq != r.head+1 {
		h.m.gaps.Inc()
		h.log.Error("gap in a room's seq on the log", "room", env.RoomID, "after", r.head, "got", env.Seq)
		r.ring.reset()
	}
	r.head = env.Seq
	f, err := renderEvent(env, h.mod)
	if err != nil {
		h.log.Error("render event", "room", env.RoomID, "seq", env.Seq, "err", err)
		r.ring.reset()
		return
	}
	r.ring.push(f)
	if p, ok := env.Payload.(schemas.MessageDeleted); ok {
		if t, err := tombstoneFrame(env, p); err == nil {
			r.ring.replace(p.MessageSeq, t)
		}
	}
	for c := range r.subs {
		if !c.offer(item{f: f, live: true}) {
			delete(r.subs, c)
			h.m.drops.Inc()
			c.fail(CloseSlowConsumer, "send queue overflow: resume with since_seq", false)
		}
	}
}

// step is one move of a socket towards live delivery. last is the highest
// seq already queued for c and snap the room seq of its presence snapshot.
//
// c goes live when nothing it still needs can be missed by the tail:
//   - head > 0 and last >= head: every event above head is yet to be
//     dispatched, and live delivery starts now;
//   - head == 0 and last >= snap: nothing was dispatched since tracking
//     began (before the snapshot), so every event above snap — all of them
//     committed after the snapshot — is yet to be dispatched.
//
// Otherwise step returns the frames after last from the ring when the ring
// reaches back that far, or nil: the caller reads the log.
func (h *hub) step(c *conn, last, snap int64) (live bool, frames []*frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[c.room]
	if r == nil {
		// Cannot happen while c holds interest; refuse rather than guess.
		return false, nil
	}
	select {
	case <-c.done:
		return false, nil // closing: stay out of the live set
	default:
	}
	if r.blocked {
		c.fail(CloseTryAgain, blockedReason, false)
		return false, nil
	}
	if (r.head > 0 && last >= r.head) || (r.head == 0 && last >= snap) {
		r.subs[c] = struct{}{}
		return true, nil
	}
	frames, _ = r.ring.after(last)
	return false, frames
}

// remove takes c out of its room's live set (it stays tracked until release).
func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[c.room]; r != nil {
		delete(r.subs, c)
	}
}
