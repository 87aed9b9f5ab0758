package command

import "happychat/schemas"

// decideCloseRoom: an admin closes an open topic room (room.closed). Its
// members stay members and its history stays readable, but nobody joins
// it or posts in it afterwards, and no list shows it. Closing a closed
// room is a no-op answered with the room.
func decideCloseRoom(r *room, cmd Command, dp deps) (decision, error) {
	if !cmd.Admin {
		return decision{}, forbidden("only an admin may close a room")
	}
	if r == nil || r.status == "" {
		return decision{}, notFound("no such room")
	}
	if !r.topic() {
		return decision{}, badRequest("only topic rooms are closed; a private room's owner removes its members instead")
	}
	var d decision
	d.result.Room = roomView(r, dp.capacity)
	switch r.status {
	case schemas.RoomStatusClosed:
		return d, nil
	case schemas.RoomStatusOpen:
	default:
		return decision{}, notFound("no such open room")
	}
	env := schemas.Envelope{CorrelationID: cmd.CorrelationID, Payload: schemas.RoomClosed{Reason: cmd.Reason}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}
