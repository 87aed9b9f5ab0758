package command

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"happychat/schemas"
)

// Snapshots of the write side, per partition of the rooms topic, in
// PostgreSQL (docs/adr/0003-write-side-snapshots.md says why there).
//
// A snapshot holds what an instance needs to start folding a partition
// from an offset instead of from the start of the log: its rooms (status,
// members, seq), its share of the user locations, the highest event id, and
// the owner's dedupe window. It is written by the partition's owner, in the
// background, every CHAT_SNAPSHOT_RECORDS records or CHAT_SNAPSHOT_INTERVAL,
// in one transaction with the sends leaving the window (command_dedupe) and
// the Bloom filter chunks that changed. The newest two are kept; a reader
// takes the newest one whose checksums, version, topic id and offset check
// out, else the one before, else the log from its start.

// snapshotVersion is the layout of the snapshot bodies; a reader ignores
// versions it does not know (and falls back to an older snapshot or the log).
// Version 2 adds the owner's recent messages to the window body (edits,
// deletes, reactions, replies); a version 1 window is still read, its
// messages rebuilt from its sends. Version 3 adds the kind and invites of
// private rooms and direct messages (Conv); a build before it skips such a
// snapshot (strict decoding) and folds the log instead. Version 4 adds each
// member's read mark (ReadUpTo) and a room's bans (feature level 5).
const snapshotVersion = 4

// oldestSnapshotVersion is the oldest layout this build still reads.
const oldestSnapshotVersion = 1

type snapState struct {
	Version   int        `json:"v"`
	TopicID   string     `json:"topic_id"`
	Partition int32      `json:"partition"`
	Offset    int64      `json:"offset"`
	LastID    schemas.ID `json:"last_id"`
	Rooms     []snapRoom `json:"rooms"`
	Users     []snapUser `json:"users"`
}

type snapRoom struct {
	ID            schemas.ID   `json:"id"`
	Status        string       `json:"status"`
	Title         string       `json:"title"`
	Description   string       `json:"description,omitzero"`
	CreatedAt     time.Time    `json:"created_at"`
	Seq           int64        `json:"seq"`
	LastID        schemas.ID   `json:"last_id"`
	Messages      int64        `json:"messages"`
	LastMessageAt time.Time    `json:"last_message_at,omitzero"`
	Members       []snapMember `json:"members,omitzero"`
	// Conv is a private room's or a direct message's (version 3).
	Conv *snapConversation `json:"conv,omitzero"`
	// Bans are the users banned from the room (feature level 5).
	Bans []schemas.ID `json:"bans,omitzero"`
	// Mod is a room's blocks and open reports (feature level 5; a build
	// before it refuses such a snapshot, strict decoding, and folds the
	// log instead).
	Mod *snapModeration `json:"mod,omitzero"`
}

type snapMember struct {
	User     schemas.ID `json:"user"`
	JoinID   schemas.ID `json:"join_id"`
	Nickname string     `json:"nickname"`
	JoinedAt time.Time  `json:"joined_at"`
	// ReadUpTo is the member's read mark (version 4).
	ReadUpTo schemas.ID `json:"read_up_to,omitzero"`
}

type snapUser struct {
	User   schemas.ID `json:"user"`
	Room   schemas.ID `json:"room"`
	JoinID schemas.ID `json:"join_id"`
	Active bool       `json:"active,omitzero"`
}

type snapWindow struct {
	Version  int        `json:"v"`
	Sends    []snapSent `json:"sends"`
	Messages []snapMsg  `json:"messages,omitzero"`
}

// snapMsg is a msgMeta in a snapshot, and in command_messages once it left
// the owner's table.
type snapMsg struct {
	ID          schemas.ID     `json:"id"`
	Room        schemas.ID     `json:"room"`
	Author      schemas.ID     `json:"author"`
	Nickname    string         `json:"nickname"`
	ClientMsgID string         `json:"client_msg_id"`
	Seq         int64          `json:"seq"`
	At          time.Time      `json:"at"`
	Preview     string         `json:"preview,omitzero"`
	TextHash    uint64         `json:"text_hash,omitzero"`
	EditedAt    time.Time      `json:"edited_at,omitzero"`
	Deleted     bool           `json:"deleted,omitzero"`
	Reactions   []snapReaction `json:"reactions,omitzero"`
	Touched     time.Time      `json:"touched"`
}

type snapReaction struct {
	Emoji string       `json:"emoji"`
	Users []schemas.ID `json:"users"`
}

func toSnapMsg(m *msgMeta) snapMsg {
	s := snapMsg{ID: m.id, Room: m.room, Author: m.author, Nickname: m.nickname, ClientMsgID: m.clientMsgID, Seq: m.seq,
		At: m.at, Preview: m.preview, TextHash: m.textHash, EditedAt: m.editedAt, Deleted: m.deleted, Touched: m.touched}
	for _, r := range m.reactions {
		s.Reactions = append(s.Reactions, snapReaction{Emoji: r.emoji, Users: r.users})
	}
	return s
}

func (s snapMsg) meta() *msgMeta {
	m := &msgMeta{id: s.ID, room: s.Room, author: s.Author, nickname: s.Nickname, clientMsgID: s.ClientMsgID, seq: s.Seq,
		at: s.At, preview: s.Preview, textHash: s.TextHash, editedAt: s.EditedAt, deleted: s.Deleted, touched: s.Touched}
	for _, r := range s.Reactions {
		m.reactions = append(m.reactions, reaction{emoji: r.Emoji, users: r.Users})
	}
	return m
}

type snapSent struct {
	Room        schemas.ID `json:"room"`
	User        schemas.ID `json:"user"`
	ClientMsgID string     `json:"client_msg_id"`
	ID          schemas.ID `json:"id"`
	Seq         int64      `json:"seq"`
	Text        string     `json:"text"`
	Nickname    string     `json:"nickname"`
	At          time.Time  `json:"at"`
	Off         int64      `json:"off"`
}

// capture is a partition's state at an offset, taken by its owner between
// batches: the rooms map and the window are copied by value, the rooms
// themselves are shared (they are immutable).
type capture struct {
	part   int32
	offset int64
	lastID schemas.ID
	rooms  []*room
	users  users
	window []windowEntry
	evict  []evicted
	msgs   []*msgMeta // the owner's message table
	// evictMsgs leave the table with this snapshot (command_messages).
	evictMsgs []*msgMeta
	bloom     *bloomSet
	takenAt   time.Time
	// erased are messages deleted since the previous snapshot: their
	// texts are in older snapshots and their previews maybe in
	// command_messages, so this one replaces both (docs/adr/0009).
	erased []schemas.ID
}

// erasedMsgs are the table's states of the erased messages (tombstones).
func (c *capture) erasedMsgs() []*msgMeta {
	if len(c.erased) == 0 {
		return nil
	}
	ids := make(map[schemas.ID]bool, len(c.erased))
	for _, id := range c.erased {
		ids[id] = true
	}
	var out []*msgMeta
	for _, m := range c.msgs {
		if ids[m.id] && m.deleted {
			out = append(out, m)
		}
	}
	return out
}

func (c *capture) encodeState(topicID string) ([]byte, error) {
	s := snapState{Version: snapshotVersion, TopicID: topicID, Partition: c.part, Offset: c.offset, LastID: c.lastID,
		Rooms: make([]snapRoom, 0, len(c.rooms)), Users: make([]snapUser, 0, len(c.users))}
	for _, r := range c.rooms {
		sr := snapRoom{ID: r.id, Status: r.status, Title: r.title, Description: r.description, CreatedAt: r.createdAt,
			Seq: r.seq, LastID: r.lastID, Messages: r.messages, LastMessageAt: r.lastMessageAt, Conv: r.snapConv(), Mod: r.snapMod()}
		for u, m := range r.members {
			sr.Members = append(sr.Members, snapMember{User: u, JoinID: m.joinID, Nickname: m.nickname, JoinedAt: m.joinedAt, ReadUpTo: m.readUpTo})
		}
		for u := range r.bans {
			sr.Bans = append(sr.Bans, u)
		}
		s.Rooms = append(s.Rooms, sr)
	}
	for u, l := range c.users {
		s.Users = append(s.Users, snapUser{User: u, Room: l.room, JoinID: l.joinID, Active: l.active})
	}
	return schemas.Marshal(s)
}

// encodeWindow writes the sends that stay in the window (those after the
// evicted ones).
func (c *capture) encodeWindow() ([]byte, error) {
	var through int64 = -1
	if n := len(c.evict); n > 0 {
		through = c.evict[n-1].off
	}
	w := snapWindow{Version: snapshotVersion, Sends: []snapSent{}}
	for _, e := range c.window {
		if e.sent.off <= through {
			continue
		}
		w.Sends = append(w.Sends, snapSent{Room: e.key.room, User: e.key.user, ClientMsgID: e.key.clientMsgID,
			ID: e.sent.id, Seq: e.sent.seq, Text: e.sent.text, Nickname: e.sent.nickname, At: e.sent.at, Off: e.sent.off})
	}
	leaving := make(map[*msgMeta]bool, len(c.evictMsgs))
	for _, m := range c.evictMsgs {
		leaving[m] = true
	}
	for _, m := range c.msgs {
		if !leaving[m] {
			w.Messages = append(w.Messages, toSnapMsg(m))
		}
	}
	return schemas.Marshal(w)
}

// decodeState checks and decodes a stored state body.
func decodeState(body, sum []byte, topicID string, part int32) (*snapState, error) {
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		return nil, errors.New("snapshot state checksum mismatch")
	}
	var s snapState
	if err := schemas.StrictUnmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("snapshot state: %w", err)
	}
	switch {
	case s.Version < oldestSnapshotVersion || s.Version > snapshotVersion:
		return nil, fmt.Errorf("snapshot version %d is not within %d..%d", s.Version, oldestSnapshotVersion, snapshotVersion)
	case s.TopicID != topicID:
		return nil, fmt.Errorf("snapshot of topic id %s, the topic is now %s", s.TopicID, topicID)
	case s.Partition != part:
		return nil, fmt.Errorf("snapshot of partition %d read for %d", s.Partition, part)
	}
	return &s, nil
}

// install loads a decoded state into an empty partition fold.
func (s *snapState) install(ps *partState) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, sr := range s.Rooms {
		r := &room{id: sr.ID, status: sr.Status, title: sr.Title, description: sr.Description, createdAt: sr.CreatedAt,
			seq: sr.Seq, lastID: sr.LastID, messages: sr.Messages, lastMessageAt: sr.LastMessageAt,
			members: make(map[schemas.ID]member, len(sr.Members))}
		for _, m := range sr.Members {
			r.members[m.User] = member{joinID: m.JoinID, nickname: m.Nickname, joinedAt: m.JoinedAt, readUpTo: m.ReadUpTo}
		}
		r.installConv(sr.Conv)
		for _, u := range sr.Bans {
			if r.bans == nil {
				r.bans = make(map[schemas.ID]bool, len(sr.Bans))
			}
			r.bans[u] = true
		}
		r.installMod(sr.Mod)
		ps.rooms[r.id] = r
	}
	for _, u := range s.Users {
		ps.users[u.User] = location{room: u.Room, joinID: u.JoinID, active: u.Active}
	}
	if s.LastID > ps.lastID {
		ps.lastID = s.LastID
	}
}

// decodeWindow returns the dedupe window and the message table of a
// snapshot. A version 1 window predates the table: the table is rebuilt
// from its sends, which is exact, no message having been edited, deleted or
// reacted to before version 2 (those events need feature level 3).
func decodeWindow(body, sum []byte) (*window, *msgTable, error) {
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		return nil, nil, errors.New("snapshot window checksum mismatch")
	}
	var sw snapWindow
	if err := schemas.StrictUnmarshal(body, &sw); err != nil {
		return nil, nil, fmt.Errorf("snapshot window: %w", err)
	}
	if sw.Version < oldestSnapshotVersion || sw.Version > snapshotVersion {
		return nil, nil, fmt.Errorf("snapshot window version %d is not within %d..%d", sw.Version, oldestSnapshotVersion, snapshotVersion)
	}
	w, t := newWindow(), newMsgTable()
	for _, e := range sw.Sends {
		w.add(sentKey{room: e.Room, user: e.User, clientMsgID: e.ClientMsgID},
			sent{id: e.ID, seq: e.Seq, text: e.Text, nickname: e.Nickname, at: e.At, off: e.Off})
		if sw.Version == 1 {
			t.put(newMsgMeta(schemas.Envelope{ID: e.ID, RoomID: e.Room, UserID: e.User, Seq: e.Seq, OccurredAt: e.At},
				schemas.MessageSent{Text: e.Text, ClientMsgID: e.ClientMsgID, Nickname: e.Nickname}))
		}
	}
	for _, m := range sw.Messages {
		t.put(m.meta())
	}
	return w, t, nil
}
