package schemas

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"unicode/utf8"
)

// Feature level 4: private rooms, invites and direct messages (issue 20).
const (
	TypeConversationCreated = "conversation.created"
	TypeMemberAdded         = "member.added"
	TypeInviteCreated       = "invite.created"
)

// Room kinds. A topic room is public, listed, and counts toward "one room
// at a time" (docs/adr/0002); a private room or a direct message does not.
const (
	RoomKindTopic   = "topic"
	RoomKindPrivate = "private"
	RoomKindDirect  = "direct"
)

// ConversationCreated (rooms topic, feature level 4): UserID opened a room
// that is not a topic: a private room (Kind "private", Title required) or a
// direct message with Peer (Kind "direct", no title; the room id is
// DirectRoomID of the pair). It is never listed; its creator and peer
// become members by the member.added events that follow it.
type ConversationCreated struct {
	Kind        string `json:"kind"`
	Title       string `json:"title,omitzero"`
	Description string `json:"description,omitzero"`
	Peer        ID     `json:"peer,omitzero"`
}

// MemberAdded (rooms topic, feature level 4): UserID became a member of a
// private room or a direct message. By is the member who added them (zero
// for the creator's own membership and for an invite accepted); Invite is the
// id of the invite.created event they came in by. Unlike room.joined it ends
// no other membership: the one-room fold ignores it.
type MemberAdded struct {
	Nickname string `json:"nickname"`
	By       ID     `json:"by,omitzero"`
	Invite   ID     `json:"invite,omitzero"`
}

// InviteCreated (rooms topic, feature level 4): UserID, a member, made an
// invite to a private room. The log keeps the SHA-256 of its secret
// (CodeHash, hex), never the secret: whoever reads the log cannot accept it.
// It admits MaxUses people until ExpiresAt (wire time form); the envelope id
// is the invite's id (MemberAdded.Invite).
type InviteCreated struct {
	CodeHash  string `json:"code_hash"`
	ExpiresAt string `json:"expires_at"`
	MaxUses   int    `json:"max_uses"`
}

func (ConversationCreated) EventType() string { return TypeConversationCreated }
func (MemberAdded) EventType() string         { return TypeMemberAdded }
func (InviteCreated) EventType() string       { return TypeInviteCreated }

// Bounds of the level-4 events, enforced at both ends of the log.
const (
	MaxInviteUses = 1000
	codeHashLen   = 64
)

// DirectRoomID is the room id of the direct messages between a and b, the
// same whichever of them asks: a hash of the ordered pair, kept positive
// and distinct from small ids. Both users' requests therefore land on the
// one partition owner that decides the room, which makes "one conversation
// per pair" a single writer's decision (docs/adr/0001).
func DirectRoomID(a, b ID) ID {
	if a > b {
		a, b = b, a
	}
	h := fnv.New64a()
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(a))
	binary.BigEndian.PutUint64(buf[8:], uint64(b))
	_, _ = h.Write([]byte("happychat/direct/"))
	_, _ = h.Write(buf[:])
	id := ID(h.Sum64() & (1<<63 - 1))
	if id < 1<<32 {
		id += 1 << 32
	}
	return id
}

func defineLevel4(r *Registry) {
	Define[ConversationCreated](r, 1, ScopeRoom, checkConversationCreated, AtLevel(4))
	Define[MemberAdded](r, 1, ScopeRoom, func(e Envelope) error {
		if err := needUser(e); err != nil {
			return err
		}
		return nonEmpty("nickname", e.Payload.(MemberAdded).Nickname)
	}, AtLevel(4))
	Define[InviteCreated](r, 1, ScopeRoom, checkInviteCreated, AtLevel(4))
}

func checkConversationCreated(e Envelope) error {
	if err := needUser(e); err != nil {
		return err
	}
	p := e.Payload.(ConversationCreated)
	switch p.Kind {
	case RoomKindPrivate:
		if p.Peer != 0 {
			return fmt.Errorf("%w: peer must be absent on a private room", errBadField)
		}
		return nonEmpty("title", p.Title)
	case RoomKindDirect:
		if p.Peer <= 0 || p.Peer == e.UserID {
			return fmt.Errorf("%w: a direct room needs a peer other than its creator", errBadField)
		}
		if e.RoomID != DirectRoomID(e.UserID, p.Peer) {
			return fmt.Errorf("%w: a direct room's id is DirectRoomID of its pair", errBadField)
		}
		return nil
	default:
		return fmt.Errorf("%w: kind %q", errBadField, p.Kind)
	}
}

func checkInviteCreated(e Envelope) error {
	if err := needUser(e); err != nil {
		return err
	}
	p := e.Payload.(InviteCreated)
	if len(p.CodeHash) != codeHashLen || !utf8.ValidString(p.CodeHash) {
		return fmt.Errorf("%w: code_hash must be %d hex digits", errBadField, codeHashLen)
	}
	for _, c := range p.CodeHash {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: code_hash must be %d hex digits", errBadField, codeHashLen)
		}
	}
	if p.MaxUses < 1 || p.MaxUses > MaxInviteUses {
		return fmt.Errorf("%w: max_uses must be 1..%d", errBadField, MaxInviteUses)
	}
	if _, err := ParseTime(p.ExpiresAt); err != nil {
		return fmt.Errorf("%w: expires_at: %w", errBadField, err)
	}
	return nil
}
