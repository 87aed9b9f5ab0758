package command

import (
	"context"
	"slices"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Rename gives the caller a new nickname and keeps the user: the same id,
// room, memberships and read marks. Tokens carry the nickname, so the
// answer is a new session (a new token under the new nickname) and the
// caller's old token is revoked (docs/adr/0007).
//
// In order, each committed before the next: user.renamed on the users topic
// (the views' users row); member.renamed in every room the user is a member
// of (their topic room, private rooms and direct messages: see roomsOf),
// each decided by that room's owner (members, presence and live frames
// follow at that seq); the new token; session.revoked for the old one. A failure
// part-way leaves the old token working, and the client retries the whole
// rename: a repeat of a name already taken appends the events again, which
// every consumer applies idempotently (the name is set, not toggled).
//
// The events are of feature level 3: while the cluster is below it the
// rename is refused with 503 and nothing is written.
func (s *Service) Rename(ctx context.Context, c Caller, nickname string) (schemas.Session, error) {
	if err := c.needUser(); err != nil {
		return schemas.Session{}, forbidden("the admin token has no nickname to change")
	}
	nickname, err := cleanName("nickname", nickname, maxNickname)
	if err != nil {
		return schemas.Session{}, err
	}
	claims, err := s.cfg.Keys.Verify(c.Token)
	if err != nil {
		return schemas.Session{}, token.Refusal(err)
	}
	// Refused before an id is minted: nothing is written below level 3.
	for _, ev := range []schemas.Event{schemas.UserRenamed{}, schemas.MemberRenamed{}, schemas.SessionRevoked{}} {
		if err := s.checkEmit(ev); err != nil {
			return schemas.Session{}, err
		}
	}
	id, err := s.mintID()
	if err != nil {
		return schemas.Session{}, err
	}
	env := schemas.Envelope{ID: id, UserID: c.UserID, OccurredAt: s.now(),
		Payload: schemas.UserRenamed{Nickname: nickname, Previous: claims.Nickname}}
	if err := s.appendUserEvent(ctx, env); err != nil {
		return schemas.Session{}, err
	}
	for _, room := range s.fold.roomsOf(c.UserID) {
		// The owner appends member.renamed only if the user is still its
		// member: a leave or a switch racing the rename wins, and the
		// next join carries the new name anyway.
		if _, err := s.Execute(ctx, Command{Kind: KindRename, RoomID: room, UserID: c.UserID,
			Nickname: nickname, Credential: c.Token}); err != nil {
			return schemas.Session{}, err
		}
	}
	// A passkey or recovery code signs in under the current name.
	if err := s.passkeys.renamed(ctx, c.UserID, nickname); err != nil {
		return schemas.Session{}, s.storeDown("rename the passkey user", err)
	}
	tok, _, err := s.cfg.Keys.Issue(c.UserID, nickname)
	if err != nil {
		return schemas.Session{}, err
	}
	if err := s.revoke(ctx, c.UserID, claims); err != nil {
		return schemas.Session{}, err
	}
	return schemas.Session{UserID: c.UserID, Nickname: nickname, Token: tok}, nil
}

// decideRename records, at the room's next seq, that a member goes by a new
// nickname. It appends nothing when the user is not (or no longer) a member
// here, or already has that name in this room.
func decideRename(r *room, cmd Command, dp deps) (decision, error) {
	var d decision
	if r == nil {
		return d, nil
	}
	nickname, err := cleanName("nickname", cmd.Nickname, maxNickname)
	if err != nil {
		return decision{}, err
	}
	m, isMember := r.current(cmd.UserID, dp)
	if !isMember || m.nickname == nickname {
		return d, nil
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MemberRenamed{Nickname: nickname, Previous: m.nickname}}
	err = d.stamp(r, dp, env)
	return d, err
}

// roomsOf returns, in id order, the rooms u is a current member of: the
// topic room of their location (the user fold, which says whether a topic
// membership is still current), and every private room and direct message
// whose members include u (a scan of the fold: every instance folds every
// partition). A rename reaches each of them.
func (f *fold) roomsOf(u schemas.ID) []schemas.ID {
	var out []schemas.ID
	if loc, ok := f.locate(u); ok && loc.active {
		out = append(out, loc.room)
	}
	for _, ps := range f.parts {
		ps.mu.RLock()
		for id, r := range ps.rooms {
			if _, ok := r.members[u]; ok && !r.topic() {
				out = append(out, id)
			}
		}
		ps.mu.RUnlock()
	}
	slices.Sort(out)
	return slices.Compact(out)
}
