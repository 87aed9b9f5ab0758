package chaos

import (
	"fmt"
	"maps"
	"slices"

	"happychat/schemas"
)

// The checks below are pure: they take what the suite recorded (the sends
// and their answers, what every socket received) and the committed log, and
// return findings. They know nothing of processes or servers, so they are
// unit-tested against hand-made histories.

// Finding kinds. The first two feed the two bold figures of their own; every
// other kind is an invariant violation.
const (
	KindLost      = "lost_acknowledged" // an acknowledged send missing from the log, or there under another id or seq
	KindDuplicate = "duplicate"         // a client_msg_id appended twice

	KindSeqGap        = "seq_gap"         // a room's seq jumped
	KindSeqRepeat     = "seq_repeat"      // a room's seq repeated or went back
	KindIDOrder       = "id_order"        // a room's event id not above the one before (ids strictly increase within a room)
	KindCapacity      = "capacity"        // more members than the capacity at some prefix of the log
	KindDoubleJoin    = "double_join"     // a join by a user who was already a member (no leave between)
	KindLeaveNoMember = "leave_no_member" // a leave by a user who was not a member
	KindNonMember     = "non_member_send" // a message from a user who was not a member
	KindTwoRooms      = "two_rooms"       // a user in two rooms after the fold settled
	KindDelivery      = "delivery"        // a socket missed, repeated or reordered a room event
	KindView          = "view"            // a PostgreSQL or ClickHouse view disagrees with the log after catch-up
	KindStatus        = "status"          // an answer outside the contract (e.g. 500, or a 2xx where only a failure is possible)
	KindProcess       = "process"         // a process exited on its own (crash, crash loop)
	KindPoison        = "poison"          // a poison record not dead-lettered exactly once, or something else skipped
	KindReplay        = "replay"          // views after a replay differ from before, or queries failed during it
	KindSlowReader    = "slow_reader"     // a slow socket was not cut off, or memory grew without bound
	KindJoins         = "joins"           // more joins acknowledged than the capacity
	KindChange        = "change"          // an edit, reaction or delete of a message not in its room's log, of a deleted one, or an edit by another than the author; a read mark of a non-member or not forward
)

// Finding is one problem, with enough context to find it in the log.
type Finding struct {
	Kind   string     `json:"kind"`
	Room   schemas.ID `json:"room,omitzero"`
	Detail string     `json:"detail"`
}

func finding(kind string, room schemas.ID, format string, args ...any) Finding {
	return Finding{Kind: kind, Room: room, Detail: fmt.Sprintf(format, args...)}
}

// sendKey identifies a send as the command service deduplicates it.
type sendKey struct {
	room, user  schemas.ID
	clientMsgID string
}

// loggedSend is a message.sent event as the fold saw it.
type loggedSend struct {
	id    schemas.ID
	seq   int64
	count int
	// text is the event's text as a reader opens it; erased is set when its
	// key is gone (a sealed text, docs/adr/0009); deleted when a
	// message.deleted of it followed.
	text    string
	erased  bool
	deleted bool
	room    schemas.ID
	author  schemas.ID
	// edits holds the texts of its edits as read; reactions those present
	// at the end of the log.
	edits     map[string]bool
	reactions map[reaction]bool
}

// RoomFold is one room's state after folding its events.
type RoomFold struct {
	Seq      int64
	Messages int64
	// Members is the explicit membership: joined and not left.
	Members map[schemas.ID]bool
	// IDs holds the event id of every seq (IDs[seq-1]).
	IDs []schemas.ID
}

// Fold is the committed log folded the way the contract defines it.
type Fold struct {
	Rooms map[schemas.ID]*RoomFold
	sends map[sendKey]*loggedSend
	// byID finds a logged send by its message id, for its deletes.
	byID map[schemas.ID]*loggedSend
	// marks are the read marks on the rooms topic (level 5), by room and
	// user.
	marks map[[2]schemas.ID]schemas.ID
	// Findings are the invariant breaks the fold met, in log order.
	Findings []Finding
}

// FoldLog folds room events given in log order (each partition in offset
// order; rooms never span partitions) and checks, at every prefix: seq
// 1, 2, 3, … per room, event ids strictly increasing per room (an owner
// that took over runs its ids above the last one, whatever its clock),
// members never above capacity, joins only by
// non-members, leaves and messages only by members, and one event per
// (room, user, client_msg_id).
func FoldLog(events []schemas.Envelope, capacity int) *Fold {
	f := &Fold{Rooms: map[schemas.ID]*RoomFold{}, sends: map[sendKey]*loggedSend{}, byID: map[schemas.ID]*loggedSend{}, marks: map[[2]schemas.ID]schemas.ID{}}
	for _, e := range events {
		r := f.Rooms[e.RoomID]
		if r == nil {
			r = &RoomFold{Members: map[schemas.ID]bool{}}
			f.Rooms[e.RoomID] = r
		}
		switch {
		case e.Seq == r.Seq+1:
		case e.Seq > r.Seq+1:
			f.Findings = append(f.Findings, finding(KindSeqGap, e.RoomID, "seq %d after %d (event %d)", e.Seq, r.Seq, e.ID))
		default:
			f.Findings = append(f.Findings, finding(KindSeqRepeat, e.RoomID, "seq %d after %d (event %d)", e.Seq, r.Seq, e.ID))
			continue // do not fold an event twice
		}
		if n := len(r.IDs); n > 0 && e.ID <= r.IDs[n-1] {
			f.Findings = append(f.Findings, finding(KindIDOrder, e.RoomID, "event %d at seq %d not above event %d before it", e.ID, e.Seq, r.IDs[n-1]))
		}
		for int64(len(r.IDs)) < e.Seq-1 {
			r.IDs = append(r.IDs, 0) // the gap, already reported
		}
		r.IDs = append(r.IDs, e.ID)
		r.Seq = e.Seq
		switch p := e.Payload.(type) {
		case schemas.RoomJoined, schemas.MemberAdded:
			if r.Members[e.UserID] {
				f.Findings = append(f.Findings, finding(KindDoubleJoin, e.RoomID, "user %d joined at seq %d while a member", e.UserID, e.Seq))
			}
			r.Members[e.UserID] = true
			if len(r.Members) > capacity {
				f.Findings = append(f.Findings, finding(KindCapacity, e.RoomID, "%d members at seq %d, capacity %d", len(r.Members), e.Seq, capacity))
			}
		case schemas.RoomLeft:
			if !r.Members[e.UserID] {
				f.Findings = append(f.Findings, finding(KindLeaveNoMember, e.RoomID, "user %d left at seq %d without being a member", e.UserID, e.Seq))
			}
			delete(r.Members, e.UserID)
		case schemas.MemberRemoved:
			// A kick (level 5) ends a membership as a leave does.
			if !r.Members[e.UserID] {
				f.Findings = append(f.Findings, finding(KindLeaveNoMember, e.RoomID, "user %d removed at seq %d without being a member", e.UserID, e.Seq))
			}
			delete(r.Members, e.UserID)
		case schemas.MemberBanned:
			// A ban ends the membership it names (member: true); a ban of a
			// non-member ends nothing.
			if p.Member && !r.Members[e.UserID] {
				f.Findings = append(f.Findings, finding(KindLeaveNoMember, e.RoomID, "user %d banned as a member at seq %d without being one", e.UserID, e.Seq))
			}
			delete(r.Members, e.UserID)
		case schemas.MessageSent:
			r.Messages++
			if !r.Members[e.UserID] {
				f.Findings = append(f.Findings, finding(KindNonMember, e.RoomID, "user %d posted at seq %d without being a member", e.UserID, e.Seq))
			}
			k := sendKey{e.RoomID, e.UserID, p.ClientMsgID}
			s := f.sends[k]
			if s == nil {
				s = &loggedSend{id: e.ID, seq: e.Seq, count: 1, text: p.Text, erased: p.Erased, room: e.RoomID, author: e.UserID,
					edits: map[string]bool{}, reactions: map[reaction]bool{}}
				f.sends[k], f.byID[e.ID] = s, s
				continue
			}
			s.count++
			f.Findings = append(f.Findings, finding(KindDuplicate, e.RoomID, "client_msg_id %q of user %d appended again at seq %d (first at seq %d)", p.ClientMsgID, e.UserID, e.Seq, s.seq))
		case schemas.ReadMarkMoved:
			// Appended by the room's owner only for a current member, only
			// forward (docs/adr/0010).
			k := [2]schemas.ID{e.RoomID, e.UserID}
			switch {
			case !r.Members[e.UserID]:
				f.Findings = append(f.Findings, finding(KindChange, e.RoomID, "read mark of user %d at seq %d, not a member", e.UserID, e.Seq))
			case p.UpTo <= f.marks[k]:
				f.Findings = append(f.Findings, finding(KindChange, e.RoomID, "read mark of user %d at seq %d did not move forward (%d after %d)", e.UserID, e.Seq, p.UpTo, f.marks[k]))
			}
			f.marks[k] = max(f.marks[k], p.UpTo)
		case schemas.MessageEdited:
			if s := f.changed(e, p.MessageID, "edit"); s != nil {
				if e.UserID != s.author {
					f.Findings = append(f.Findings, finding(KindChange, e.RoomID, "message %d of user %d edited by user %d at seq %d", p.MessageID, s.author, e.UserID, e.Seq))
				}
				s.edits[p.Text] = true
			}
		case schemas.ReactionAdded:
			if s := f.changed(e, p.MessageID, "reaction"); s != nil {
				s.reactions[reaction{e.UserID, p.Emoji}] = true
			}
		case schemas.ReactionRemoved:
			if s := f.changed(e, p.MessageID, "reaction removal"); s != nil {
				delete(s.reactions, reaction{e.UserID, p.Emoji})
			}
		case schemas.MessageDeleted:
			if s := f.changed(e, p.MessageID, "delete"); s != nil {
				if e.UserID != s.author && !p.ByAdmin {
					f.Findings = append(f.Findings, finding(KindChange, e.RoomID, "message %d of user %d deleted by user %d at seq %d", p.MessageID, s.author, e.UserID, e.Seq))
				}
				s.deleted = true
			}
		}
	}
	return f
}

// changed finds the message a change event e names: a message sent
// earlier in e's room and not deleted (a delete after a delete appends
// nothing, and nothing changes a tombstone). Otherwise it records a finding
// and returns nil.
func (f *Fold) changed(e schemas.Envelope, msg schemas.ID, what string) *loggedSend {
	s := f.byID[msg]
	switch {
	case s == nil || s.room != e.RoomID:
		f.Findings = append(f.Findings, finding(KindChange, e.RoomID, "%s at seq %d of message %d, not sent in this room before it", what, e.Seq, msg))
		return nil
	case s.deleted:
		f.Findings = append(f.Findings, finding(KindChange, e.RoomID, "%s at seq %d of message %d, deleted before it", what, e.Seq, msg))
		return nil
	}
	return s
}

// Only keeps the findings about rooms in the set.
func Only(fs []Finding, rooms map[schemas.ID]bool) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Room == 0 || rooms[f.Room] {
			out = append(out, f)
		}
	}
	return out
}

// Outcome is how a send ended for the client.
type Outcome int

// Send outcomes: acknowledged (2xx), failed (an error answer: the contract
// says nothing was appended, or the client gave up on 503s), indeterminate
// (no answer: a reset connection or a timeout).
const (
	Pending Outcome = iota
	Acked
	Failed
	Indeterminate
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acknowledged"
	case Failed:
		return "failed"
	case Indeterminate:
		return "indeterminate"
	default:
		return "pending"
	}
}

// Send is one logical send: a client_msg_id and every attempt made for it.
type Send struct {
	Room, User  schemas.ID
	ClientMsgID string
	Outcome     Outcome
	// AckID, AckSeq and AckBody are the acknowledged message's id, seq
	// and text (as the answer gave it: softened).
	AckID   schemas.ID
	AckSeq  int64
	AckBody string
	// Statuses are the HTTP statuses of the attempts in order (0: no answer).
	Statuses []int
}

// CheckSends compares the sends with the log: every acknowledged send is in
// the log exactly with the id and seq it was acknowledged with, and, unless
// it was deleted since, its text reads as acknowledged: a sealed text whose
// key is gone, or reads otherwise, is a lost message too.
func CheckSends(sends []*Send, f *Fold) []Finding {
	var out []Finding
	for _, s := range sends {
		if s.Outcome != Acked {
			continue
		}
		got, ok := f.sends[sendKey{s.Room, s.User, s.ClientMsgID}]
		switch {
		case !ok:
			out = append(out, finding(KindLost, s.Room, "client_msg_id %q acknowledged as message %d (seq %d) is not in the log", s.ClientMsgID, s.AckID, s.AckSeq))
		case got.id != s.AckID || got.seq != s.AckSeq:
			out = append(out, finding(KindLost, s.Room, "client_msg_id %q acknowledged as message %d seq %d, in the log as %d seq %d", s.ClientMsgID, s.AckID, s.AckSeq, got.id, got.seq))
		case got.deleted || s.AckBody == "":
		case got.erased:
			out = append(out, finding(KindLost, s.Room, "message %d (seq %d) acknowledged, its text unreadable: the key of its sealed text is gone", s.AckID, s.AckSeq))
		case got.text != s.AckBody:
			out = append(out, finding(KindLost, s.Room, "message %d (seq %d) acknowledged with text %q, the log reads %q", s.AckID, s.AckSeq, s.AckBody, got.text))
		}
	}
	return out
}

// CheckOneRoom reports every user of users who is, by the explicit fold,
// a member of more than one room.
func CheckOneRoom(f *Fold, users []schemas.ID) []Finding {
	in := map[schemas.ID][]schemas.ID{}
	for id, r := range f.Rooms {
		for u := range r.Members {
			in[u] = append(in[u], id)
		}
	}
	var out []Finding
	for _, u := range users {
		if rooms := in[u]; len(rooms) > 1 {
			slices.Sort(rooms)
			out = append(out, finding(KindTwoRooms, rooms[0], "user %d is a member of %d rooms: %v", u, len(rooms), rooms))
		}
	}
	return out
}

// Delivery is what one subscriber (a member's socket, reconnected with
// since_seq whenever it dropped) received from its room.
type Delivery struct {
	Name string
	Room schemas.ID
	// Since is the since_seq of the first connection: the subscriber must
	// see every event after it.
	Since int64
	// Seqs are the seqs of the event frames in the order they arrived.
	Seqs []int64
	// IDs are the message ids of the message frames, by seq.
	IDs map[int64]schemas.ID
}

// CheckDelivery reports the first problem of each subscriber: every event
// of its room after Since arrives once, in seq order, up to the room's last
// seq, and each message frame names the event the log holds at its seq.
func CheckDelivery(ds []Delivery, f *Fold) []Finding {
	var out []Finding
	for _, d := range ds {
		r := f.Rooms[d.Room]
		if r == nil {
			out = append(out, finding(KindDelivery, d.Room, "%s: room not in the log", d.Name))
			continue
		}
		next := d.Since + 1
		var bad *Finding
		for _, s := range d.Seqs {
			switch {
			case s < next:
				bad = &Finding{KindDelivery, d.Room, fmt.Sprintf("%s: seq %d again or out of order (expected %d)", d.Name, s, next)}
			case s > next:
				bad = &Finding{KindDelivery, d.Room, fmt.Sprintf("%s: seq %d after %d: missed %d..%d", d.Name, s, next-1, next, s-1)}
			case s > r.Seq:
				bad = &Finding{KindDelivery, d.Room, fmt.Sprintf("%s: seq %d beyond the log's last %d", d.Name, s, r.Seq)}
			}
			if bad != nil {
				break
			}
			if id, ok := d.IDs[s]; ok && id != r.IDs[s-1] {
				bad = &Finding{KindDelivery, d.Room, fmt.Sprintf("%s: seq %d delivered message %d, the log has event %d", d.Name, s, id, r.IDs[s-1])}
				break
			}
			next++
		}
		if bad == nil && next <= r.Seq {
			bad = &Finding{KindDelivery, d.Room, fmt.Sprintf("%s: stopped at seq %d, the room is at %d", d.Name, next-1, r.Seq)}
		}
		if bad != nil {
			out = append(out, *bad)
		}
	}
	return out
}

// Tally counts the outcomes of sends.
type Tally struct {
	Attempted     int `json:"attempted"`
	Acknowledged  int `json:"acknowledged"`
	Failed        int `json:"failed"`
	Indeterminate int `json:"indeterminate"`
	// Attempts counts every HTTP request made, retries included.
	Attempts int `json:"attempts"`
	// Statuses counts attempts by HTTP status ("0": no answer).
	Statuses map[string]int `json:"statuses"`
}

// TallySends counts sends by outcome and attempts by status.
func TallySends(sends []*Send) Tally {
	t := Tally{Statuses: map[string]int{}}
	for _, s := range sends {
		t.Attempted++
		switch s.Outcome {
		case Acked:
			t.Acknowledged++
		case Failed:
			t.Failed++
		default:
			t.Indeterminate++
		}
		for _, st := range s.Statuses {
			t.Attempts++
			t.Statuses[fmt.Sprint(st)]++
		}
	}
	return t
}

// sendStatusOK reports whether an attempt's status is one the contract
// allows for a send under faults: created, rate limited, unavailable, or
// no answer at all (a killed or stopped server).
func sendStatusOK(status int) bool {
	switch status {
	case 0, 201, 429, 503:
		return true
	}
	return false
}

// CheckStatuses reports attempts answered outside the contract.
func CheckStatuses(sends []*Send) []Finding {
	var out []Finding
	bad := map[int]int{}
	rooms := map[int]schemas.ID{}
	for _, s := range sends {
		for _, st := range s.Statuses {
			if !sendStatusOK(st) {
				bad[st]++
				rooms[st] = s.Room
			}
		}
	}
	for _, st := range slices.Sorted(maps.Keys(bad)) {
		out = append(out, finding(KindStatus, rooms[st], "%d send attempts answered %d", bad[st], st))
	}
	return out
}
