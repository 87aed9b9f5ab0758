// The Go API of room moderation (feature level 5): validation and rate
// limits before the room's owner decides (kick.go, ban.go, close_room.go).

package command

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"happychat/schemas"
)

// Moderate removes (KindKick), bans (KindBan) or unbans (KindUnban) user in
// room, as the room's owner or an admin, and answers the room as it is
// afterwards.
func (s *Service) Moderate(ctx context.Context, c Caller, kind Kind, room, user schemas.ID, reason string) (schemas.Room, error) {
	switch kind {
	case KindKick, KindBan, KindUnban:
	default:
		return schemas.Room{}, badRequest("unknown moderation")
	}
	if !c.Admin {
		if err := c.needUser(); err != nil {
			return schemas.Room{}, err
		}
	}
	if user <= 0 {
		return schemas.Room{}, badRequest("user_id must be a decimal id")
	}
	// An unban takes no reason at all: refused as such whatever the reason
	// holds (the contract's one rule for it).
	if kind == KindUnban && reason != "" {
		return schemas.Room{}, badRequest("reason: an unban takes no reason")
	}
	reason, err := cleanReason(reason)
	if err != nil {
		return schemas.Room{}, err
	}
	if err := allow(s.limits.roomChurn, room, "too many joins and leaves in this room, slow down"); err != nil {
		return schemas.Room{}, err
	}
	res, err := s.Execute(ctx, Command{Kind: kind, RoomID: room, UserID: c.UserID, Nickname: c.Nickname, Admin: c.Admin,
		Credential: c.Token, Peer: user, Reason: reason})
	if err != nil {
		return schemas.Room{}, err
	}
	return *res.Room, nil
}

// CloseRoom closes a topic room (admins only).
func (s *Service) CloseRoom(ctx context.Context, c Caller, room schemas.ID, reason string) (schemas.Room, error) {
	if !c.Admin {
		return schemas.Room{}, forbidden("only an admin may close a room")
	}
	reason, err := cleanReason(reason)
	if err != nil {
		return schemas.Room{}, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindCloseRoom, RoomID: room, Admin: true, Reason: reason, Credential: c.Token})
	if err != nil {
		return schemas.Room{}, err
	}
	return *res.Room, nil
}

// cleanReason trims a moderator's reason and bounds it as the log does.
func cleanReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > schemas.MaxModerationReason ||
		strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
		return "", badRequest(fmt.Sprintf("reason must be at most %d characters without control characters", schemas.MaxModerationReason))
	}
	return reason, nil
}
