package command

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"happychat/schemas"
)

// member is one current membership of a room.
type member struct {
	joinID   schemas.ID // event id of the room.joined that began it
	nickname string
	joinedAt time.Time
	// readUpTo is the member's read mark as the room sees it (feature
	// level 5, read_mark_room.go); a mark belongs to a membership.
	readUpTo schemas.ID
}

// room is the write-side state of one room: exactly what validation needs.
// A *room stored in a partition's fold is never changed again: writers store
// a changed copy (see next), so a snapshot can capture the fold by copying
// pointers while the owner and the tail go on.
type room struct {
	id            schemas.ID
	status        string
	title         string
	description   string
	createdAt     time.Time
	seq           int64      // seq of the last applied event
	lastID        schemas.ID // id of the last applied event (ids increase within a room)
	members       map[schemas.ID]member
	messages      int64
	lastMessageAt time.Time
	// kind is "" for a topic room, else schemas.RoomKindPrivate or
	// schemas.RoomKindDirect (conversation.created); creator and peer are
	// its creator and, for a direct message, the other user.
	kind    string
	creator schemas.ID
	peer    schemas.ID
	// invites of a private room, by the invite.created event id.
	invites map[schemas.ID]invite
	// bans are the users banned from the room (member.banned, lifted by
	// member.unbanned: moderation_state.go).
	bans map[schemas.ID]bool
	// blockers, in the room of a pair's direct messages, are the users of
	// the pair who block the other; reports are the open reports of the
	// room's messages, by report id (blocks_reports_state.go).
	blockers []schemas.ID
	reports  map[schemas.ID]openReport
}

// topic reports whether the room is a topic room: the only kind that
// counts toward one room at a time (docs/adr/0002).
func (r *room) topic() bool { return r.kind == "" }

// clone copies the room for a tentative batch.
func (r *room) clone() *room {
	c := *r
	c.members = maps.Clone(r.members)
	c.invites = maps.Clone(r.invites)
	c.bans = maps.Clone(r.bans)
	c.cloneBlocksReports()
	return &c
}

// errGap reports an event whose seq does not follow the room's: the log is
// not what the fold expects (never happens with a read_committed tail).
var errGap = errors.New("room seq gap")

// apply folds one room event into the room, in place. It reports false for
// an event already applied (seq <= r.seq), which makes application
// idempotent.
func (r *room) apply(env schemas.Envelope) (bool, error) {
	if env.Seq <= r.seq {
		return false, nil
	}
	if env.Seq != r.seq+1 {
		return false, fmt.Errorf("%w: room %d at seq %d got %d", errGap, r.id, r.seq, env.Seq)
	}
	r.seq, r.lastID = env.Seq, env.ID
	switch p := env.Payload.(type) {
	case schemas.RoomCreated:
		r.status, r.title, r.description, r.createdAt = schemas.RoomStatusOpen, p.Title, p.Description, env.OccurredAt
	case schemas.RoomProposed:
		r.status, r.title, r.description, r.createdAt = schemas.RoomStatusProposed, p.Title, p.Description, env.OccurredAt
	case schemas.RoomApproved:
		r.status = schemas.RoomStatusOpen
	case schemas.RoomRejected:
		r.status = schemas.RoomStatusRejected
	case schemas.RoomJoined:
		r.members[env.UserID] = member{joinID: env.ID, nickname: p.Nickname, joinedAt: env.OccurredAt}
	case schemas.RoomLeft:
		delete(r.members, env.UserID)
	case schemas.MemberRenamed:
		if m, ok := r.members[env.UserID]; ok {
			m.nickname = p.Nickname
			r.members[env.UserID] = m
		}
	case schemas.MessageSent:
		r.messages++
		r.lastMessageAt = env.OccurredAt
	case schemas.ConversationCreated, schemas.MemberAdded, schemas.InviteCreated:
		r.applyConversation(env)
	case schemas.ReadMarkMoved:
		r.applyReadMark(env.UserID, p.UpTo)
	case schemas.MemberRemoved, schemas.MemberBanned, schemas.MemberUnbanned, schemas.RoomClosed:
		r.applyModeration(env)
	case schemas.BlockAdded, schemas.BlockRemoved, schemas.ReportFiled, schemas.ReportResolved:
		r.applyBlocksReports(env)
	}
	return true, nil
}

// next returns the room with env applied, leaving r unchanged (r itself
// when env was already applied). The members map is copied only when the
// event changes it: most events are messages.
func (r *room) next(env schemas.Envelope) (*room, bool, error) {
	if env.Seq <= r.seq {
		return r, false, nil
	}
	c := *r
	switch env.Payload.(type) {
	case schemas.RoomJoined, schemas.RoomLeft, schemas.MemberRenamed, schemas.ReadMarkMoved:
		c.members = maps.Clone(r.members)
	case schemas.MemberAdded, schemas.InviteCreated:
		c.members = maps.Clone(r.members)
		c.invites = maps.Clone(r.invites)
	case schemas.MemberRemoved, schemas.MemberBanned, schemas.MemberUnbanned:
		c.members = maps.Clone(r.members)
		c.bans = maps.Clone(r.bans)
	case schemas.BlockAdded, schemas.BlockRemoved, schemas.ReportFiled, schemas.ReportResolved:
		c.cloneBlocksReports()
	}
	ok, err := c.apply(env)
	if err != nil || !ok {
		return r, ok, err
	}
	return &c, true, nil
}

func newRoom(id schemas.ID) *room {
	return &room{id: id, members: map[schemas.ID]member{}}
}

// location is where the fold of decision 2 puts a user: the room of their
// latest join by event id, and whether that membership is still active.
type location struct {
	room   schemas.ID
	joinID schemas.ID
	active bool
}

// superseded reports whether a membership that began with joinID in room is
// ended by a later join elsewhere.
func (l location) superseded(room, joinID schemas.ID) bool {
	return l.joinID > joinID && l.room != room
}

// switchNeeded is a membership that a later join elsewhere ended, for which
// the room's owner must append room.left{reason: switched}.
type switchNeeded struct {
	room   schemas.ID // the room to leave
	user   schemas.ID
	to     schemas.ID // the room of the later join
	joinID schemas.ID // the later join's event id
}

// users is a fold of room.joined/room.left events: per user, the latest join
// by event id and whether it is still active. Each partition folds its own
// events; the user's location is the latest join over all partitions (see
// fold.locate), which equals folding every partition's events into one map
// in any order, because a leave only ever concerns a join of its own room,
// hence of its own partition.
type users map[schemas.ID]location

// apply folds a membership event and returns the membership the event
// supersedes, if any (for the single-map fold used by the batch overlay).
func (u users) apply(env schemas.Envelope) (switchNeeded, bool) {
	switch env.Payload.(type) {
	case schemas.RoomJoined:
		cur, seen := u[env.UserID]
		return u.join(env, cur, seen)
	case schemas.RoomLeft, schemas.MemberRemoved, schemas.MemberBanned:
		// A kick or a ban ends the membership as a leave does.
		u.leave(env)
	}
	return switchNeeded{}, false
}

// join records a join given the user's location before it (cur, seen: over
// every partition), and returns the membership it ends, if any.
func (u users) join(env schemas.Envelope, cur location, seen bool) (switchNeeded, bool) {
	if own, ok := u[env.UserID]; !ok || env.ID > own.joinID {
		u[env.UserID] = location{room: env.RoomID, joinID: env.ID, active: true}
	}
	switch {
	case !seen || env.ID > cur.joinID:
		if seen && cur.active && cur.room != env.RoomID {
			return switchNeeded{room: cur.room, user: env.UserID, to: env.RoomID, joinID: env.ID}, true
		}
	case env.ID < cur.joinID && cur.room != env.RoomID:
		// Read out of order across partitions: this join was already
		// superseded by a later one elsewhere.
		return switchNeeded{room: env.RoomID, user: env.UserID, to: cur.room, joinID: cur.joinID}, true
	}
	return switchNeeded{}, false
}

func (u users) leave(env schemas.Envelope) {
	if cur, ok := u[env.UserID]; ok && cur.room == env.RoomID {
		cur.active = false
		u[env.UserID] = cur
	}
}

// partState is the fold of one partition of the rooms topic. Every instance
// folds every partition (the user locations of decision 2 span them all);
// each partition has its own lock, so partitions never wait for each other.
type partState struct {
	mu     sync.RWMutex
	rooms  map[schemas.ID]*room // values are immutable once stored
	users  users                // this partition's share of the user fold
	lastID schemas.ID           // highest event id folded: the floor of the next owner's ids
	// blocked is set when the tail met a record this build cannot fold
	// (an event type or version from a newer build, or a corrupt record).
	// The fold stops there rather than skip it: an owner deciding from a
	// state that misses an event could stamp a seq that already exists.
	blocked error
}

func newPartState() *partState {
	return &partState{rooms: map[schemas.ID]*room{}, users: users{}}
}

func (ps *partState) room(id schemas.ID) *room {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.rooms[id]
}

func (ps *partState) blockedErr() error {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.blocked
}

// fold is the write side's view of every partition.
type fold struct {
	parts []*partState
	// joins makes reading a user's location and folding their join one
	// step for every partition. The tail and the owners fold different
	// partitions at once: two joins of one user in the same instant, each
	// folded against the location before the other, each superseded only
	// the user's earlier room, and the earlier of the two kept its seat
	// until a new owner's sweep (a user in two rooms for 14 minutes in the
	// fault suite's baseline). Joins are rare beside messages, so one lock
	// over all partitions costs nothing that shows.
	joins sync.Mutex
	// located, when set (tests only), runs between reading a join's
	// location and folding it, to drive the interleaving above.
	located func()
}

func newFold(n int) *fold {
	f := &fold{parts: make([]*partState, n)}
	for i := range f.parts {
		f.parts[i] = newPartState()
	}
	return f
}

// locate returns the user's location: their latest join over all
// partitions.
func (f *fold) locate(u schemas.ID) (location, bool) {
	var (
		best  location
		found bool
	)
	for _, ps := range f.parts {
		ps.mu.RLock()
		l, ok := ps.users[u]
		ps.mu.RUnlock()
		if ok && (!found || l.joinID > best.joinID) {
			best, found = l, true
		}
	}
	return best, found
}

// applyEvents folds a partition's decoded events (in log order) and returns
// the switch-leaves they call for. Only events that advance their room's
// seq touch the user fold, so reading an event twice (the owner installed it,
// then the tail reads it back) changes nothing.
func (f *fold) applyEvents(part int32, events []schemas.Envelope) ([]switchNeeded, error) {
	ps := f.parts[part]
	var switches []switchNeeded
	for _, env := range events {
		// The user's location over every partition is read before this
		// partition's lock is taken (partition locks are never nested),
		// under f.joins until the join is folded.
		var (
			cur  location
			seen bool
		)
		_, join := env.Payload.(schemas.RoomJoined)
		if join {
			f.joins.Lock()
			cur, seen = f.locate(env.UserID)
			if f.located != nil {
				f.located()
			}
		}
		ps.mu.Lock()
		unlock := func() {
			ps.mu.Unlock()
			if join {
				f.joins.Unlock()
			}
		}
		if ps.blocked != nil {
			unlock()
			return switches, ps.blocked
		}
		rm, ok := ps.rooms[env.RoomID]
		if !ok {
			rm = newRoom(env.RoomID)
		}
		nr, applied, err := rm.next(env)
		if err != nil {
			unlock()
			return switches, err
		}
		if applied {
			ps.rooms[env.RoomID] = nr
			if env.ID > ps.lastID {
				ps.lastID = env.ID
			}
			switch env.Payload.(type) {
			case schemas.RoomJoined:
				if sw, ok := ps.users.join(env, cur, seen); ok {
					switches = append(switches, sw)
				}
			case schemas.RoomLeft, schemas.MemberRemoved, schemas.MemberBanned:
				ps.users.leave(env)
			}
		}
		unlock()
	}
	return switches, nil
}

// block stops the fold of a partition at a record it cannot fold.
func (f *fold) block(part int32, err error) {
	ps := f.parts[part]
	ps.mu.Lock()
	if ps.blocked == nil {
		ps.blocked = err
	}
	ps.mu.Unlock()
}
