package command

import (
	"context"

	"happychat/schemas"
)

// Block makes the caller block user: no direct messages between them
// (neither created nor sent, in either direction, until the block is
// lifted) and, in the views, user's messages hidden from the caller. The
// block lives in the room of the pair's direct messages, whose single
// owner decides it, the pair's direct messages and their sends one after
// the other (docs/events.md, "Blocks"). Blocking again appends nothing.
func (s *Service) Block(ctx context.Context, c Caller, user schemas.ID) error {
	if err := s.blockRequest(c, user); err != nil {
		return err
	}
	nickname, err := s.peerNickname(user)
	if err != nil {
		return err
	}
	_, err = s.Execute(ctx, Command{Kind: KindBlock, RoomID: schemas.DirectRoomID(c.UserID, user), UserID: c.UserID,
		Nickname: c.Nickname, Credential: c.Token, Peer: user, PeerNickname: nickname})
	return err
}

// Unblock lifts the caller's block of user; unblocking a user not blocked
// appends nothing.
func (s *Service) Unblock(ctx context.Context, c Caller, user schemas.ID) error {
	if err := s.blockRequest(c, user); err != nil {
		return err
	}
	_, err := s.Execute(ctx, Command{Kind: KindUnblock, RoomID: schemas.DirectRoomID(c.UserID, user), UserID: c.UserID,
		Credential: c.Token, Peer: user})
	return err
}

func (s *Service) blockRequest(c Caller, user schemas.ID) error {
	if err := c.needUser(); err != nil {
		return err
	}
	if user <= 0 {
		return badRequest("user_id must be a decimal id")
	}
	if user == c.UserID {
		return badRequest("user_id: you cannot block yourself")
	}
	return allow(s.limits.join, c.UserID, slowDown)
}

// decideBlock appends block.added in the pair's room. When the pair has
// no direct messages yet, their room is opened first, with no members
// (conversation.created alone): the room is where the pair's relation
// lives, and opening it later adds the members to it.
func decideBlock(r *room, cmd Command, dp deps) (decision, *room, error) {
	d := decision{result: Result{Done: true}}
	r, err := d.pairRoom(r, cmd, dp, "a block")
	if err != nil {
		return decision{}, nil, err
	}
	if r.blocks(cmd.UserID) {
		return d, nil, nil
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.BlockAdded{Blocked: cmd.Peer, Nickname: cmd.PeerNickname}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, nil, err
	}
	return d, r, nil
}

func decideUnblock(r *room, cmd Command, dp deps) (decision, error) {
	d := decision{result: Result{Done: true}}
	if r == nil || r.kind != schemas.RoomKindDirect || !r.directOf(cmd.UserID, cmd.Peer) || !r.blocks(cmd.UserID) {
		return d, nil
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.BlockRemoved{Blocked: cmd.Peer}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	return d, nil
}

// blocks reports whether u, one of the pair of r, blocks the other.
func (r *room) blocks(u schemas.ID) bool {
	for _, b := range r.blockers {
		if b == u {
			return true
		}
	}
	return false
}

// refuseBlocked refuses a direct message between a blocked pair, to u (its
// creation or a send): the blocked user learns only that the other does
// not take their messages; the blocker, that they must unblock first.
func (r *room) refuseBlocked(u schemas.ID) error {
	if !r.blockedPair() {
		return nil
	}
	if r.blocks(u) {
		return schemas.Errorf(schemas.CodeBlocked, "you blocked this user: unblock them to send direct messages")
	}
	return schemas.Errorf(schemas.CodeBlocked, "this user does not accept direct messages from you")
}
