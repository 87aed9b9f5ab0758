package chaos

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"happychat/schemas"
)

// From the feature level that brings them (message.edited, 3), the fault
// load also changes messages: every changeEvery-th operation of a member
// edits, reacts to or deletes the member's own last acknowledged message in
// the room instead of sending, so that the changes, and the destruction of
// a deleted message's key (docs/adr/0009), are under the faults too.
const changeEvery = 8

// Change kinds.
const (
	ChangeEdit   = "edit"
	ChangeReact  = "react"
	ChangeDelete = "delete"
	ChangeRead   = "read" // the member's read mark moved to the message
)

// changeEmoji is the reaction of the load.
const changeEmoji = "👍"

// Change is one change of a message by its author: an edit (Text is the
// new text as answered), a reaction (changeEmoji) or a delete, with every
// attempt's status and how it ended.
type Change struct {
	Kind       string
	Room, User schemas.ID
	Message    schemas.ID
	Text       string
	Outcome    Outcome
	Statuses   []int
}

// lastSent remembers each member's last acknowledged message per room: what
// the load changes.
type lastSent struct {
	mu sync.Mutex
	m  map[[2]schemas.ID]schemas.ID
}

func (ls *lastSent) set(u, room, msg schemas.ID) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = map[[2]schemas.ID]schemas.ID{}
	}
	ls.m[[2]schemas.ID{u, room}] = msg
}

// take returns the member's last message; a delete takes it for good.
func (ls *lastSent) take(u, room schemas.ID, remove bool) (schemas.ID, bool) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	k := [2]schemas.ID{u, room}
	id, ok := ls.m[k]
	if ok && remove {
		delete(ls.m, k)
	}
	return id, ok
}

// changeKind is the n-th operation's change: edits and reactions twice as
// often as deletes.
func changeKind(n int) string {
	switch (n / changeEvery) % 5 {
	case 0, 1:
		return ChangeEdit
	case 2, 3:
		return ChangeReact
	default:
		return ChangeDelete
	}
}

// readOffset places a read mark between two changes: from the feature
// level at which marks are room events (5, docs/adr/0010) the n-th
// operation with n%changeEvery == readOffset moves the member's read mark
// to its last message.
const readOffset = changeEvery/2 - 1

// changeOnce makes the n-th operation's change of u's last message in room,
// retried like a send; false when u has no message there to change yet.
func (a *api) changeOnce(ctx context.Context, l *ledger, u *user, room schemas.ID, n int, timeout time.Duration) bool {
	kind := changeKind(n)
	if n%changeEvery == readOffset {
		kind = ChangeRead
	}
	msg, ok := l.last.take(u.id, room, kind == ChangeDelete)
	if !ok {
		return false
	}
	c := &Change{Kind: kind, Room: room, User: u.id, Message: msg}
	path := "/v1/rooms/" + room.String() + "/messages/" + msg.String()
	method, want := http.MethodPatch, http.StatusOK
	var in any
	switch kind {
	case ChangeEdit:
		in = map[string]string{"body": fmt.Sprintf("edit #%d ✎ 고침", n)}
	case ChangeReact:
		method, want, path = http.MethodPut, http.StatusNoContent, path+"/reactions/"+url.PathEscape(changeEmoji)
	case ChangeDelete:
		method, want = http.MethodDelete, http.StatusNoContent
	case ChangeRead:
		method, path = http.MethodPost, "/v1/rooms/"+room.String()+"/read"
		in = map[string]schemas.ID{"up_to": msg}
	}
	defer l.addChange(c)
	deadline := time.Now().Add(timeout)
	for try := 0; ; try++ {
		_, base := a.command(try)
		ans := a.do(ctx, method, base+path, u.token, in)
		c.Statuses = append(c.Statuses, ans.status)
		if ans.status == want {
			c.Outcome = Acked
			if kind == ChangeEdit {
				var m schemas.Message
				if err := ans.decode(&m); err != nil || m.ID != msg {
					c.Outcome = Indeterminate
					return true
				}
				c.Text = m.Body
			}
			return true
		}
		if !ans.retryable() || time.Now().After(deadline) || ctx.Err() != nil {
			c.Outcome = Failed
			if ans.status == 0 {
				c.Outcome = Indeterminate
			}
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(ans.pause(try)):
		}
	}
}

// changeStatusOK reports whether an attempt's status is one the contract
// allows for a change of one's own message under faults: done, rate
// limited, unavailable, no answer, or a conflict with a concurrent change
// of the same message (edited or reacted to while another worker deleted
// it: 409, or 404 once it is gone).
func changeStatusOK(status int) bool {
	switch status {
	case 0, 200, 204, 404, 409, 429, 503:
		return true
	}
	return false
}

// CheckChanges compares the load's changes with the log: an acknowledged
// edit is in the log with its text (readable through its key unless the
// message was deleted since), an acknowledged delete tombstoned the
// message, an acknowledged reaction is there unless the message was
// deleted; and every attempt's status is one the contract allows.
func CheckChanges(cs []*Change, f *Fold) []Finding {
	var out []Finding
	bad := map[int]int{}
	rooms := map[int]schemas.ID{}
	for _, c := range cs {
		for _, st := range c.Statuses {
			if !changeStatusOK(st) {
				bad[st]++
				rooms[st] = c.Room
			}
		}
		if c.Outcome != Acked {
			continue
		}
		m := f.byID[c.Message]
		switch {
		case m == nil:
			out = append(out, finding(KindLost, c.Room, "%s of message %d acknowledged, the message is not in the log", c.Kind, c.Message))
		case c.Kind == ChangeRead:
			if f.marks[[2]schemas.ID{c.Room, c.User}] < c.Message {
				out = append(out, finding(KindLost, c.Room, "read mark of user %d at message %d acknowledged, the log's mark is %d", c.User, c.Message, f.marks[[2]schemas.ID{c.Room, c.User}]))
			}
		case c.Kind == ChangeDelete && !m.deleted:
			out = append(out, finding(KindLost, c.Room, "delete of message %d acknowledged, no message.deleted in the log", c.Message))
		case m.deleted:
		case c.Kind == ChangeEdit && !m.edits[c.Text]:
			out = append(out, finding(KindLost, c.Room, "edit of message %d to %q acknowledged, not in the log (readable)", c.Message, c.Text))
		case c.Kind == ChangeReact && !m.reactions[reaction{c.User, changeEmoji}]:
			out = append(out, finding(KindLost, c.Room, "reaction %s of user %d to message %d acknowledged, not in the log", changeEmoji, c.User, c.Message))
		}
	}
	for _, st := range slices.Sorted(maps.Keys(bad)) {
		out = append(out, finding(KindStatus, rooms[st], "%d change attempts answered %d", bad[st], st))
	}
	return out
}

// reaction is a member's emoji on a message.
type reaction struct {
	user  schemas.ID
	emoji string
}

// noteChanges notes how the load's changes ended, by kind.
func (r *run) noteChanges(cs []*Change) {
	acked, all := map[string]int{}, map[string]int{}
	for _, c := range cs {
		all[c.Kind]++
		if c.Outcome == Acked {
			acked[c.Kind]++
		}
	}
	r.notef("changes of messages acknowledged: %d of %d edits, %d of %d reactions, %d of %d deletes, %d of %d read marks",
		acked[ChangeEdit], all[ChangeEdit], acked[ChangeReact], all[ChangeReact], acked[ChangeDelete], all[ChangeDelete],
		acked[ChangeRead], all[ChangeRead])
}
