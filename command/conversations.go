// The Go API of private rooms, invites and direct messages (feature level
// 4): validation, rate limits, and what only the instance that took the
// request can do (mint an invite's secret, find a peer's nickname) before
// the room's owner decides.

package command

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"happychat/schemas"
)

// Invite defaults and bounds (POST /v1/rooms/{id}/invites).
const (
	DefaultInviteTTL  = 24 * time.Hour
	MinInviteTTL      = time.Minute
	MaxInviteTTL      = 30 * 24 * time.Hour
	DefaultInviteUses = 10
	inviteSecretBytes = 16
)

// Invite is an invite just made: its code (room id, a dot, the secret) is
// shown once, to its maker; the log keeps only the secret's hash.
type Invite struct {
	Code      string     `json:"code"`
	RoomID    schemas.ID `json:"room_id"`
	ExpiresAt string     `json:"expires_at"`
	MaxUses   int        `json:"max_uses"`
}

// CreatePrivateRoom opens a private room of which the caller is the first
// member. With an idempotency key a retry answers the first room.
func (s *Service) CreatePrivateRoom(ctx context.Context, c Caller, key, title, description string) (schemas.Room, error) {
	if err := c.needUser(); err != nil {
		return schemas.Room{}, err
	}
	title, err := cleanName("title", title, maxTitle)
	if err != nil {
		return schemas.Room{}, err
	}
	if description, err = cleanText("description", description, 0, maxDescription); err != nil {
		return schemas.Room{}, err
	}
	if key != "" {
		if key, err = cleanKey("Idempotency-Key", key); err != nil {
			return schemas.Room{}, err
		}
	}
	if err := allow(s.limits.proposal, c.UserID, "too many rooms created, try again later"); err != nil {
		return schemas.Room{}, err
	}
	id, err := s.mintID()
	if err != nil {
		return schemas.Room{}, err
	}
	if key != "" {
		if id, err = s.store.roomForKey(ctx, c.keyScope(), key, id); err != nil {
			s.log.Warn("room idempotency key", "err", err)
			return schemas.Room{}, unavailable("cannot check the Idempotency-Key now, retry")
		}
	}
	res, err := s.Execute(ctx, Command{Kind: KindCreatePrivate, RoomID: id, UserID: c.UserID, Nickname: c.Nickname, Credential: c.Token,
		Title: title, Description: description, Retry: key != ""})
	if err != nil {
		return schemas.Room{}, err
	}
	return *res.Room, nil
}

// CreateInvite makes an invite to a private room the caller is a member
// of, valid for ttl (0: DefaultInviteTTL) and maxUses people (0:
// DefaultInviteUses).
func (s *Service) CreateInvite(ctx context.Context, c Caller, room schemas.ID, ttl time.Duration, maxUses int) (Invite, error) {
	if err := c.needUser(); err != nil {
		return Invite{}, err
	}
	if ttl == 0 {
		ttl = DefaultInviteTTL
	}
	if maxUses == 0 {
		maxUses = DefaultInviteUses
	}
	if ttl < MinInviteTTL || ttl > MaxInviteTTL {
		return Invite{}, badRequest("expires_in_seconds must be 60..2592000")
	}
	if maxUses < 1 || maxUses > schemas.MaxInviteUses {
		return Invite{}, badRequest("max_uses must be 1..1000")
	}
	if err := allow(s.limits.proposal, c.UserID, "too many invites, try again later"); err != nil {
		return Invite{}, err
	}
	secret := make([]byte, inviteSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return Invite{}, err
	}
	code := base64.RawURLEncoding.EncodeToString(secret)
	expires := s.now().Add(ttl).Truncate(time.Millisecond)
	if _, err := s.Execute(ctx, Command{Kind: KindInvite, RoomID: room, UserID: c.UserID, Credential: c.Token,
		CodeHash: inviteHash(code), ExpiresAt: expires, MaxUses: maxUses}); err != nil {
		return Invite{}, err
	}
	return Invite{Code: room.String() + "." + code, RoomID: room, ExpiresAt: schemas.FormatTime(expires), MaxUses: maxUses}, nil
}

// AcceptInvite makes the caller a member of the invite's room.
func (s *Service) AcceptInvite(ctx context.Context, c Caller, code string) (schemas.Room, bool, error) {
	if err := c.needUser(); err != nil {
		return schemas.Room{}, false, err
	}
	room, secret, err := parseInviteCode(code)
	if err != nil {
		return schemas.Room{}, false, err
	}
	if err := allow(s.limits.join, c.UserID, slowDown); err != nil {
		return schemas.Room{}, false, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindAcceptInvite, RoomID: room, UserID: c.UserID, Nickname: c.Nickname,
		Credential: c.Token, CodeHash: inviteHash(secret)})
	if err != nil {
		return schemas.Room{}, false, err
	}
	return *res.Room, res.Created, nil
}

// AddMember: the caller, a member of a private room, adds user to it.
// The user must be found (a member of some room this instance folds) so
// that the room shows their nickname.
func (s *Service) AddMember(ctx context.Context, c Caller, room, user schemas.ID) (schemas.Room, bool, error) {
	if err := c.needUser(); err != nil {
		return schemas.Room{}, false, err
	}
	nickname, err := s.peerNickname(user)
	if err != nil {
		return schemas.Room{}, false, err
	}
	if err := allow(s.limits.roomChurn, room, "too many joins and leaves in this room, slow down"); err != nil {
		return schemas.Room{}, false, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindAddMember, RoomID: room, UserID: c.UserID, Credential: c.Token,
		Peer: user, PeerNickname: nickname})
	if err != nil {
		return schemas.Room{}, false, err
	}
	return *res.Room, res.Created, nil
}

// OpenDirect opens (or finds) the caller's direct messages with a user
// named by id (from a room's member list) or by share code (ShareCode).
// Exactly one of user and shareCode is given.
func (s *Service) OpenDirect(ctx context.Context, c Caller, user schemas.ID, shareCode string) (schemas.Room, bool, error) {
	if err := c.needUser(); err != nil {
		return schemas.Room{}, false, err
	}
	var (
		nickname string
		err      error
	)
	switch {
	case (user == 0) == (shareCode == ""):
		return schemas.Room{}, false, badRequest("send exactly one of user_id and share_code")
	case shareCode != "":
		if user, nickname, err = s.readShareCode(shareCode); err != nil {
			return schemas.Room{}, false, err
		}
	default:
		if nickname, err = s.peerNickname(user); err != nil {
			return schemas.Room{}, false, err
		}
	}
	if user == c.UserID {
		return schemas.Room{}, false, badRequest("user_id: a direct message needs another user than yourself")
	}
	if err := allow(s.limits.join, c.UserID, slowDown); err != nil {
		return schemas.Room{}, false, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindCreateDirect, RoomID: schemas.DirectRoomID(c.UserID, user), UserID: c.UserID,
		Nickname: c.Nickname, Credential: c.Token, Peer: user, PeerNickname: nickname, ShareCode: shareCode})
	if err != nil {
		return schemas.Room{}, false, err
	}
	return *res.Room, res.Created, nil
}

// peerNickname finds user's nickname in the fold: a member list is where a
// client found the id. Users in no room are reached by share code.
func (s *Service) peerNickname(user schemas.ID) (string, error) {
	if user <= 0 {
		return "", badRequest("user_id must be a decimal id")
	}
	select {
	case <-s.running: // the fold exists once Run has started
	default:
		return "", unavailable("the command service is starting")
	}
	if n, ok := s.fold.nicknameOf(user); ok {
		return n, nil
	}
	return "", notFound("user_id: no such user in any room; ask them for their share code")
}

// nicknameOf finds u's nickname as a current member: first in their topic
// room (the user fold), else in any room (private rooms and direct
// messages, a scan of the fold).
func (f *fold) nicknameOf(u schemas.ID) (string, bool) {
	if loc, ok := f.locate(u); ok && loc.active {
		for _, ps := range f.parts {
			if r := ps.room(loc.room); r != nil {
				if m, ok := r.members[u]; ok {
					return m.nickname, true
				}
			}
		}
	}
	for _, ps := range f.parts {
		ps.mu.RLock()
		for _, r := range ps.rooms {
			if m, ok := r.members[u]; ok {
				ps.mu.RUnlock()
				return m.nickname, true
			}
		}
		ps.mu.RUnlock()
	}
	return "", false
}

func inviteHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// parseInviteCode splits "<room id>.<secret>".
func parseInviteCode(code string) (schemas.ID, string, error) {
	roomPart, secret, ok := strings.Cut(code, ".")
	bad := badRequest("code must be an invite code: a room id, a dot and 22 letters, digits, - or _")
	if !ok {
		return 0, "", bad
	}
	room, err := schemas.ParseID(roomPart)
	if err != nil {
		return 0, "", bad
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != inviteSecretBytes {
		return 0, "", bad
	}
	return room, secret, nil
}
