package command

import (
	"crypto/subtle"

	"happychat/schemas"
)

// decideAcceptInvite makes the caller a member of a private room by an
// invite: one that exists, has not expired and has a use left, while the
// room has a seat. A member accepting again is answered the room and uses
// nothing. Concurrent accepts are decided one after the other by the
// room's owner against its tentative state, so neither the uses nor the
// capacity are ever exceeded.
func decideAcceptInvite(r *room, cmd Command, dp deps) (decision, error) {
	if r == nil || r.kind != schemas.RoomKindPrivate {
		return decision{}, notFound("no such invite")
	}
	var (
		id    schemas.ID
		inv   invite
		found bool
	)
	for iid, i := range r.invites {
		if subtle.ConstantTimeCompare([]byte(i.hash), []byte(cmd.CodeHash)) == 1 {
			id, inv, found = iid, i, true
		}
	}
	if !found {
		return decision{}, notFound("no such invite")
	}
	if err := r.refuseEntry(cmd.UserID, "you are"); err != nil {
		return decision{}, err
	}
	var d decision
	d.result.Room = roomView(r, dp.capacity)
	if _, ok := r.members[cmd.UserID]; ok {
		return d, nil
	}
	switch {
	case !dp.now.Before(inv.expires):
		return decision{}, notFound("the invite has expired")
	case inv.uses >= inv.maxUses:
		return decision{}, schemas.Errorf(schemas.CodeConflict, "the invite has been used up")
	case len(r.members) >= dp.capacity:
		return decision{}, schemas.Errorf(schemas.CodeRoomFull, "the room is full")
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MemberAdded{Nickname: cmd.Nickname, Invite: id}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Room = roomView(r, dp.capacity)
	d.result.Created = true
	return d, nil
}
