package command

import "happychat/schemas"

// decideCreateRoom opens a room (admin) or files a topic proposal (anyone
// else). The room id was minted by the instance that took the request.
func decideCreateRoom(r *room, cmd Command, dp deps) (decision, *room, error) {
	if r != nil {
		if cmd.Retry && r.title == cmd.Title && r.description == cmd.Description {
			// The same request again (its id came from the caller's
			// idempotency key): the first answer, nothing appended.
			var d decision
			d.result.Room = roomView(r, dp.capacity)
			d.result.Created, d.result.Accepted = cmd.Admin, !cmd.Admin
			return d, nil, nil
		}
		return decision{}, nil, schemas.Errorf(schemas.CodeConflict, "room already exists")
	}
	r = newRoom(cmd.RoomID)
	var d decision
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID}
	if cmd.Admin {
		env.Payload = schemas.RoomCreated{Title: cmd.Title, Description: cmd.Description}
		d.result.Created = true
	} else {
		env.Payload = schemas.RoomProposed{Title: cmd.Title, Description: cmd.Description}
		d.result.Accepted = true
	}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, nil, err
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, r, nil
}
