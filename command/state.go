package command

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"happychat/schemas"
)

// member is one current membership of a room.
type member struct {
	joinID   schemas.ID // event id of the room.joined that began it
	nickname string
	joinedAt time.Time
}

// sentKey identifies a send for idempotency: the same user retrying the same
// client_msg_id in the same room gets the original message back.
type sentKey struct {
	user        schemas.ID
	clientMsgID string
}

// sent is what a retried send must answer with.
type sent struct {
	id       schemas.ID
	seq      int64
	text     string
	nickname string
	at       time.Time
}

// room is the write-side state of one room: exactly what validation needs.
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
	sent          map[sentKey]sent
}

// clone copies the room for a tentative batch. The dedupe map is shared, not
// copied: a batch records its new sends in an overlay (see batch).
func (r *room) clone() *room {
	c := *r
	c.members = maps.Clone(r.members)
	return &c
}

// errGap reports an event whose seq does not follow the room's: the log is
// not what the fold expects (never happens with a read_committed tail).
var errGap = errors.New("room seq gap")

// apply folds one room event into the room. It reports false for an event
// already applied (seq <= r.seq), which makes application idempotent.
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
	case schemas.RoomJoined:
		r.members[env.UserID] = member{joinID: env.ID, nickname: p.Nickname, joinedAt: env.OccurredAt}
	case schemas.RoomLeft:
		delete(r.members, env.UserID)
	case schemas.MessageSent:
		r.messages++
		r.lastMessageAt = env.OccurredAt
		r.sent[sentKey{env.UserID, p.ClientMsgID}] = sent{id: env.ID, seq: env.Seq, text: p.Text, nickname: p.Nickname, at: env.OccurredAt}
	}
	return true, nil
}

func newRoom(id schemas.ID) *room {
	return &room{id: id, members: map[schemas.ID]member{}, sent: map[sentKey]sent{}}
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

// users is the fold of every room.joined/room.left across all partitions.
type users map[schemas.ID]location

// apply folds a membership event and returns the membership the event
// supersedes, if any.
func (u users) apply(env schemas.Envelope) (switchNeeded, bool) {
	switch env.Payload.(type) {
	case schemas.RoomJoined:
		cur, seen := u[env.UserID]
		switch {
		case !seen || env.ID > cur.joinID:
			u[env.UserID] = location{room: env.RoomID, joinID: env.ID, active: true}
			if seen && cur.active && cur.room != env.RoomID {
				return switchNeeded{room: cur.room, user: env.UserID, to: env.RoomID, joinID: env.ID}, true
			}
		case env.ID < cur.joinID && cur.room != env.RoomID:
			// Read out of order across partitions: this join was already
			// superseded by a later one elsewhere.
			return switchNeeded{room: env.RoomID, user: env.UserID, to: cur.room, joinID: cur.joinID}, true
		}
	case schemas.RoomLeft:
		if cur, ok := u[env.UserID]; ok && cur.room == env.RoomID {
			cur.active = false
			u[env.UserID] = cur
		}
	}
	return switchNeeded{}, false
}
