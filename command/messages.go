package command

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/rivo/uniseg"

	"happychat/schemas"
)

// What edits, deletes, reactions and replies need to know of a message, in
// bounded memory (the rule of issue 12: O(live rooms + members + window),
// never O(history)).
//
// The owner of a partition keeps the messages of a recent window in a table
// (msgTable), bounded like the dedupe window by age (CHAT_DEDUPE_WINDOW) and
// count (CHAT_DEDUPE_WINDOW_ENTRIES): every send enters it, and every edit,
// delete or reaction moves its message to the table's young end. Messages
// leave it only through the snapshot writer, which stores them in
// PostgreSQL (command_messages) in the snapshot's transaction, as the dedupe
// window's sends leave for command_dedupe. A command about a message missing
// from the table reads it back from there (and keeps it in the table
// again); when PostgreSQL cannot answer, the command is refused (503)
// rather than decided on a guess. What is kept never holds a message's
// text: only a short preview for replies (none once deleted) and a hash of
// the latest text (an edit repeating it is a retry).

// previewRunes is how much of a message a reply carries.
const previewRunes = 100

// maxReactionKinds caps the distinct emoji on one message.
const maxReactionKinds = 20

// msgMeta is a message as the write side knows it. A stored *msgMeta is
// never changed again (a changed copy replaces it), so a snapshot captures
// the table by copying pointers, and a capture's entries can be told from
// newer ones by identity.
type msgMeta struct {
	id          schemas.ID
	room        schemas.ID
	author      schemas.ID
	nickname    string
	clientMsgID string
	seq         int64
	at          time.Time // sent
	preview     string    // first previewRunes of the latest text; "" once deleted
	textHash    uint64    // of the latest text
	editedAt    time.Time
	deleted     bool
	reactions   []reaction // in order of each emoji's first reaction
	touched     time.Time  // when it last entered or changed in the table
}

// reaction is one emoji on a message and who reacted with it, in order.
type reaction struct {
	emoji string
	users []schemas.ID
}

func textHash(s string) uint64 { return xxhash.Sum64String(s) }

// preview returns the first previewRunes code points of s.
func preview(s string) string {
	n := 0
	for i := range s {
		if n == previewRunes {
			return s[:i]
		}
		n++
	}
	return s
}

// newMsgMeta is the state a message.sent starts.
func newMsgMeta(env schemas.Envelope, p schemas.MessageSent) *msgMeta {
	return &msgMeta{id: env.ID, room: env.RoomID, author: env.UserID, nickname: p.Nickname, clientMsgID: p.ClientMsgID,
		seq: env.Seq, at: env.OccurredAt, preview: preview(p.Text), textHash: textHash(p.Text), touched: env.OccurredAt}
}

// clone copies m for a change (the reactions too: they are shared).
func (m *msgMeta) clone() *msgMeta {
	c := *m
	c.reactions = make([]reaction, len(m.reactions))
	for i, r := range m.reactions {
		c.reactions[i] = reaction{emoji: r.emoji, users: slices.Clone(r.users)}
	}
	return &c
}

// reacted reports whether user reacted to m with emoji.
func (m *msgMeta) reacted(user schemas.ID, emoji string) bool {
	for _, r := range m.reactions {
		if r.emoji == emoji {
			return slices.Contains(r.users, user)
		}
	}
	return false
}

// hasEmoji reports whether anyone reacted to m with emoji.
func (m *msgMeta) hasEmoji(emoji string) bool {
	return slices.ContainsFunc(m.reactions, func(r reaction) bool { return r.emoji == emoji })
}

// next returns m with a message event about it applied (m itself when the
// event changes nothing). Every change is idempotent: an edit sets the text,
// a delete sets the tombstone, a reaction adds or removes a member from a
// set, so folding an event twice, or the events after a state that already
// holds some of them, gives the same state.
func (m *msgMeta) next(env schemas.Envelope) *msgMeta {
	switch p := env.Payload.(type) {
	case schemas.MessageEdited:
		if m.deleted {
			return m
		}
		c := m.clone()
		c.preview, c.textHash, c.editedAt, c.touched = preview(p.Text), textHash(p.Text), env.OccurredAt, env.OccurredAt
		return c
	case schemas.MessageDeleted:
		if m.deleted {
			return m
		}
		c := *m
		c.deleted, c.preview, c.textHash, c.reactions, c.touched = true, "", 0, nil, env.OccurredAt
		return &c
	case schemas.ReactionAdded:
		if m.deleted || m.reacted(env.UserID, p.Emoji) {
			return m
		}
		c := m.clone()
		c.touched = env.OccurredAt
		for i := range c.reactions {
			if c.reactions[i].emoji == p.Emoji {
				c.reactions[i].users = append(c.reactions[i].users, env.UserID)
				return c
			}
		}
		c.reactions = append(c.reactions, reaction{emoji: p.Emoji, users: []schemas.ID{env.UserID}})
		return c
	case schemas.ReactionRemoved:
		if m.deleted || !m.reacted(env.UserID, p.Emoji) {
			return m
		}
		c := m.clone()
		c.touched = env.OccurredAt
		for i := range c.reactions {
			if c.reactions[i].emoji == p.Emoji {
				c.reactions[i].users = slices.DeleteFunc(c.reactions[i].users, func(u schemas.ID) bool { return u == env.UserID })
				if len(c.reactions[i].users) == 0 {
					c.reactions = slices.Delete(c.reactions, i, i+1)
				}
				break
			}
		}
		return c
	}
	return m
}

// targetOf returns the message a message event is about (0 for others).
func targetOf(env schemas.Envelope) schemas.ID {
	switch p := env.Payload.(type) {
	case schemas.MessageSent:
		return env.ID
	case schemas.MessageEdited:
		return p.MessageID
	case schemas.MessageDeleted:
		return p.MessageID
	case schemas.ReactionAdded:
		return p.MessageID
	case schemas.ReactionRemoved:
		return p.MessageID
	}
	return 0
}

// apiReactions renders reactions as the API shows them.
func apiReactions(rs []reaction) []schemas.Reaction {
	if len(rs) == 0 {
		return nil
	}
	out := make([]schemas.Reaction, len(rs))
	for i, r := range rs {
		out[i] = schemas.Reaction{Emoji: r.emoji, UserIDs: slices.Clone(r.users)}
	}
	return out
}

// msgTable is an owner's recent messages, in the order they last changed.
type msgTable struct {
	byID  map[schemas.ID]*msgMeta
	order []schemas.ID // may hold stale ids (moved on, or evicted): byID decides
	head  int
}

func newMsgTable() *msgTable { return &msgTable{byID: map[schemas.ID]*msgMeta{}} }

func (t *msgTable) get(id schemas.ID) (*msgMeta, bool) {
	m, ok := t.byID[id]
	return m, ok
}

// put stores m as the message's latest state, at the young end.
func (t *msgTable) put(m *msgMeta) {
	if cur, ok := t.byID[m.id]; ok && cur == m {
		return
	}
	t.byID[m.id] = m
	t.order = append(t.order, m.id)
}

func (t *msgTable) len() int { return len(t.byID) }

// list returns the table's entries, oldest change first (for a snapshot).
func (t *msgTable) list() []*msgMeta {
	out := make([]*msgMeta, 0, len(t.byID))
	seen := make(map[schemas.ID]bool, len(t.byID))
	for i := len(t.order) - 1; i >= t.head; i-- {
		id := t.order[i]
		if m, ok := t.byID[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, m)
		}
	}
	slices.Reverse(out)
	return out
}

// evictable returns the oldest entries that must leave the table: changed
// before cutoff, or beyond max entries.
func (t *msgTable) evictable(cutoff time.Time, max int) []*msgMeta {
	var out []*msgMeta
	all := t.list()
	for i, m := range all {
		if len(all)-i <= max && !m.touched.Before(cutoff) {
			break
		}
		out = append(out, m)
	}
	return out
}

// evict drops the given entries, unless they changed since (a newer state
// stays and is stored again later).
func (t *msgTable) evict(ms []*msgMeta) {
	for _, m := range ms {
		if t.byID[m.id] == m {
			delete(t.byID, m.id)
		}
	}
	// Compact the order slice once its stale part dominates.
	if len(t.order) > 1024 && len(t.order) > 2*len(t.byID) {
		live := t.list()
		t.order = t.order[:0]
		for _, m := range live {
			t.order = append(t.order, m.id)
		}
		t.head = 0
	}
}

// validEmoji reports whether s is one emoji: a single grapheme cluster
// that starts with an emoji character (a pictograph, a regional indicator
// of a flag, or a keycap's digit, # or * followed by U+20E3).
func validEmoji(s string) bool {
	if s == "" || len(s) > schemas.MaxEmojiBytes || !utf8.ValidString(s) || uniseg.GraphemeClusterCount(s) != 1 {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s)
	switch {
	case r >= 0x1F1E6 && r <= 0x1F1FF: // a flag is two regional indicators
		return utf8.RuneCountInString(s) == 2
	case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, flags' regional indicators, symbols
		r >= 0x2600 && r <= 0x27BF, // miscellaneous symbols, dingbats
		r >= 0x2300 && r <= 0x23FF, r >= 0x2B00 && r <= 0x2BFF, r >= 0x2190 && r <= 0x21FF,
		r >= 0x25A0 && r <= 0x25FF, r == 0x00A9, r == 0x00AE, r == 0x203C, r == 0x2049, r == 0x2122,
		r == 0x2139, r == 0x24C2, r == 0x3030, r == 0x303D, r == 0x3297, r == 0x3299:
		return true
	case r >= '0' && r <= '9', r == '#', r == '*':
		return strings.HasSuffix(s, "\u20e3")
	}
	return false
}
