package projector

import (
	"time"
)

// chTables names the tables a chSink writes: the live history, or the copies
// a replay builds before it switches them in.
type chTables struct{ messages, events, dead, changes string }

// chMessage is a messages row; Apply leaves body and effects to soften. A
// tombstone (deleted) has no text.
type chMessage struct {
	roomID, id, seq, userID   uint64
	nickname, text, body, cid string
	effects                   []string
	sentAt                    time.Time
	partition                 uint32
	offset                    uint64
	deleted                   bool
	replyTo, replyUser        uint64
	replyNickname, replyText  string
	replyDeleted              bool
	mentions                  []uint64
}

// chChange is a message_changes row: an edit (soften its text), a delete,
// or a reaction.
type chChange struct {
	roomID, id, seq, userID uint64
	key, kind, emoji        string
	text, body              string
	effects                 []string
	at                      time.Time
	partition               uint32
	offset                  uint64
}

// chEvent is a room_events row: every record of the rooms topic has one,
// dead letters included (under room 0), so that its maximum offset is the
// position.
type chEvent struct {
	roomID, seq, id, userID uint64
	typ                     string
	at                      time.Time
	partition               uint32
	offset                  uint64
}

// chDead is a dead_letters row.
type chDead struct {
	partition  uint32
	offset     uint64
	key, value string
	reason     string
}

// chRows are the rows of one batch.
type chRows struct {
	msgs     []chMessage
	changes  []chChange
	events   []chEvent
	dead     []chDead
	occurred []time.Time
	epoch    uint64
	// erase are the messages deleted in this batch, whose texts the
	// insert then erases from the parts already written (eraseTexts).
	erase []uint64
	// released are messages whose hold a report.resolved ended with their
	// keys destroyed: erased like erase, never kept (a held message in
	// erase keeps its text, docs/adr/0009 "Holds").
	released []uint64
}

// n counts the records of the batch: each gives one room_events row.
func (r *chRows) n() int { return len(r.events) }

// drop removes the rows of the given partitions.
func (r *chRows) drop(gone map[int32]bool) {
	r.msgs = filter(r.msgs, func(m chMessage) bool { return !gone[int32(m.partition)] })
	r.changes = filter(r.changes, func(c chChange) bool { return !gone[int32(c.partition)] })
	r.events = filter(r.events, func(e chEvent) bool { return !gone[int32(e.partition)] })
	r.dead = filter(r.dead, func(d chDead) bool { return !gone[int32(d.partition)] })
}

// filter keeps the elements of xs that keep accepts, in place.
func filter[T any](xs []T, keep func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}
