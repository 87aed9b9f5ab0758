package command

import "happychat/schemas"

// decideRejectRoom turns a proposed room down (room.rejected, feature level
// 3: refused until the cluster reaches it). Rejecting a rejected room is a
// no-op that answers it as it is; an open room cannot be rejected.
func decideRejectRoom(r *room, cmd Command, dp deps) (decision, error) {
	if !cmd.Admin {
		return decision{}, forbidden("only an admin may reject a room")
	}
	if r == nil {
		return decision{}, notFound("no such room")
	}
	var d decision
	switch r.status {
	case schemas.RoomStatusOpen:
		return decision{}, schemas.Errorf(schemas.CodeConflict, "the room is open already: only a proposal can be rejected")
	case schemas.RoomStatusProposed:
		env := schemas.Envelope{CorrelationID: cmd.CorrelationID, Payload: schemas.RoomRejected{Reason: cmd.Reason}}
		if err := d.stamp(r, dp, env); err != nil {
			return decision{}, err
		}
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}
