package command

import "happychat/schemas"

// decideCreateDirect opens the direct messages of the caller and cmd.Peer,
// or answers the ones that exist: one conversation per pair. The room id is
// schemas.DirectRoomID of the pair, so both users' requests, from any
// instance, are decided by this room's single owner one after the other:
// the second finds the room the first created. Either user asking again
// after leaving comes back in, and brings the other back too.
func decideCreateDirect(r *room, cmd Command, dp deps) (decision, *room, error) {
	var d decision
	created := r == nil
	r, err := d.pairRoom(r, cmd, dp, "a direct message")
	if err != nil {
		return decision{}, nil, err
	}
	if !created {
		if err := r.refuseBlocked(cmd.UserID); err != nil {
			return decision{}, nil, err
		}
	}
	for _, u := range []struct {
		id       schemas.ID
		nickname string
		by       schemas.ID
	}{{cmd.UserID, cmd.Nickname, 0}, {cmd.Peer, cmd.PeerNickname, cmd.UserID}} {
		if _, ok := r.members[u.id]; ok {
			continue
		}
		env := schemas.Envelope{UserID: u.id, CorrelationID: cmd.CorrelationID,
			Payload: schemas.MemberAdded{Nickname: u.nickname, By: u.by}}
		if err := d.stamp(r, dp, env); err != nil {
			return decision{}, nil, err
		}
	}
	d.result.Room, d.result.Created = roomView(r, dp.capacity), created
	if len(d.events) == 0 {
		return d, nil, nil
	}
	return d, r, nil
}

// pairRoom checks that cmd is between two users in the room of their pair
// (what is refused is named by what: "a direct message", "a block"), and
// returns that room: r, or, when the pair has none yet, a new one whose
// conversation.created d appends.
func (d *decision) pairRoom(r *room, cmd Command, dp deps, what string) (*room, error) {
	if cmd.Peer <= 0 || cmd.Peer == cmd.UserID || cmd.RoomID != schemas.DirectRoomID(cmd.UserID, cmd.Peer) || cmd.PeerNickname == "" {
		return nil, badRequest(what + " is between two users, in the room of their pair")
	}
	if r == nil {
		r = newRoom(cmd.RoomID)
		env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
			Payload: schemas.ConversationCreated{Kind: schemas.RoomKindDirect, Peer: cmd.Peer}}
		return r, d.stamp(r, dp, env)
	}
	if r.kind != schemas.RoomKindDirect || !r.directOf(cmd.UserID, cmd.Peer) {
		// Another room with the hash of this pair (never seen in practice).
		return nil, schemas.Errorf(schemas.CodeConflict, "the pair's room id is taken")
	}
	return r, nil
}

// directOf reports whether r is the direct messages of a and b.
func (r *room) directOf(a, b schemas.ID) bool {
	return r.creator == a && r.peer == b || r.creator == b && r.peer == a
}
