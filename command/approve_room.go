package command

import "happychat/schemas"

// decideApproveRoom opens a proposed room. Approving an open room is a
// no-op that answers the room as it is.
func decideApproveRoom(r *room, cmd Command, dp deps) (decision, error) {
	if !cmd.Admin {
		return decision{}, forbidden("only an admin may approve a room")
	}
	if r == nil {
		return decision{}, notFound("no such room")
	}
	if r.status == schemas.RoomStatusRejected {
		return decision{}, schemas.Errorf(schemas.CodeConflict, "the proposal was rejected: it cannot be approved")
	}
	var d decision
	if r.status == schemas.RoomStatusProposed {
		env := schemas.Envelope{CorrelationID: cmd.CorrelationID, Payload: schemas.RoomApproved{}}
		if err := d.stamp(r, dp, env); err != nil {
			return decision{}, err
		}
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}
