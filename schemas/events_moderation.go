package schemas

import (
	"fmt"
	"unicode/utf8"
)

// Feature level 5, moderation of rooms (issue 20, part 4): the owner of a
// private room (its creator) or an admin removes a member (kick), bans a
// user from a room and lifts the ban; an admin closes a topic room. Each is
// decided by the room's owner and takes a seq like every membership event,
// so every view and every replay agrees, and each names its actor: the log
// is the audit trail (who did what, when).
const (
	TypeMemberRemoved  = "member.removed"
	TypeMemberBanned   = "member.banned"
	TypeMemberUnbanned = "member.unbanned"
	TypeRoomClosed     = "room.closed"
)

// Reasons a membership ends beside RoomLeft's (the members view's
// left_reason, the member_left frame's reason).
const (
	LeftReasonRemoved = "removed" // member.removed: an owner or an admin removed them
	LeftReasonBanned  = "banned"  // member.banned: banned while a member
)

// RoomStatusClosed: an admin closed the topic room (room.closed). It is
// listed nowhere; members and anyone may still read it, nobody joins it or
// posts in it any more.
const RoomStatusClosed = "closed"

// MaxModerationReason bounds the reason given with a kick, a ban or a
// close, in code points.
const MaxModerationReason = 500

// MemberRemoved (rooms topic, feature level 5): UserID, a member, was
// removed from the room. By is the room owner who removed them, absent
// when an admin did (the admin token names no user); ByNickname is By's
// nickname then, so the line "X was removed by Y" needs no other lookup.
type MemberRemoved struct {
	Nickname   string `json:"nickname"`
	By         ID     `json:"by,omitzero"`
	ByNickname string `json:"by_nickname,omitzero"`
	Reason     string `json:"reason,omitzero"`
}

// MemberBanned (rooms topic, feature level 5): UserID may no longer enter
// the room (join, accept an invite, be added) until a member.unbanned. If
// they were a member the ban also ends that membership (Member true):
// there is no separate member.removed. Nickname is theirs when known.
type MemberBanned struct {
	Nickname   string `json:"nickname,omitzero"`
	Member     bool   `json:"member,omitzero"`
	By         ID     `json:"by,omitzero"`
	ByNickname string `json:"by_nickname,omitzero"`
	Reason     string `json:"reason,omitzero"`
}

// MemberUnbanned (rooms topic, feature level 5): UserID's ban from the room
// is lifted; they may enter it again the usual ways.
type MemberUnbanned struct {
	By         ID     `json:"by,omitzero"`
	ByNickname string `json:"by_nickname,omitzero"`
}

// RoomClosed (rooms topic, feature level 5): an admin closed a topic room.
// Nobody joins it or posts in it afterwards; it is no longer listed.
type RoomClosed struct {
	Reason string `json:"reason,omitzero"`
}

func (MemberRemoved) EventType() string  { return TypeMemberRemoved }
func (MemberBanned) EventType() string   { return TypeMemberBanned }
func (MemberUnbanned) EventType() string { return TypeMemberUnbanned }
func (RoomClosed) EventType() string     { return TypeRoomClosed }

func defineLevel5Moderation(r *Registry) {
	Define[MemberRemoved](r, 1, ScopeRoom, func(e Envelope) error {
		p := e.Payload.(MemberRemoved)
		if err := checkActor(e, p.By, p.ByNickname, p.Reason); err != nil {
			return err
		}
		return nonEmpty("nickname", p.Nickname)
	}, AtLevel(5))
	Define[MemberBanned](r, 1, ScopeRoom, func(e Envelope) error {
		p := e.Payload.(MemberBanned)
		if p.Member && p.Nickname == "" {
			return fmt.Errorf("%w: nickname is required when the ban ends a membership", errBadField)
		}
		return checkActor(e, p.By, p.ByNickname, p.Reason)
	}, AtLevel(5))
	Define[MemberUnbanned](r, 1, ScopeRoom, func(e Envelope) error {
		p := e.Payload.(MemberUnbanned)
		return checkActor(e, p.By, p.ByNickname, "")
	}, AtLevel(5))
	Define[RoomClosed](r, 1, ScopeRoom, func(e Envelope) error {
		if e.UserID != 0 {
			return fmt.Errorf("%w: user_id must be absent: an admin closes a room", errBadField)
		}
		return checkReason(e.Payload.(RoomClosed).Reason)
	}, AtLevel(5))
}

// checkActor: a moderation event is about a user (UserID), by someone else
// (By, or an admin when By is absent) whose nickname comes with their id.
func checkActor(e Envelope, by ID, byNickname, reason string) error {
	if err := needUser(e); err != nil {
		return err
	}
	switch {
	case by < 0:
		return fmt.Errorf("%w: by must be a user id", errBadField)
	case by == e.UserID:
		return fmt.Errorf("%w: by must be another user than user_id", errBadField)
	case (by == 0) != (byNickname == ""):
		return fmt.Errorf("%w: by_nickname comes with by, and only with it", errBadField)
	}
	return checkReason(reason)
}

func checkReason(reason string) error {
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > MaxModerationReason {
		return fmt.Errorf("%w: reason must be valid UTF-8 of at most %d code points", errBadField, MaxModerationReason)
	}
	return nil
}
