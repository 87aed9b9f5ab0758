package command

import "happychat/schemas"

// decideCreatePrivate opens a private room: conversation.created, then the
// creator's membership (member.added). Any user may; the room is never
// listed and is entered only by an invite or by a member adding someone.
func decideCreatePrivate(r *room, cmd Command, dp deps) (decision, *room, error) {
	if r != nil {
		if cmd.Retry && r.kind == schemas.RoomKindPrivate && r.creator == cmd.UserID && r.title == cmd.Title && r.description == cmd.Description {
			var d decision
			d.result.Room, d.result.Created = roomView(r, dp.capacity), true
			return d, nil, nil
		}
		return decision{}, nil, schemas.Errorf(schemas.CodeConflict, "room already exists")
	}
	r = newRoom(cmd.RoomID)
	var d decision
	for _, ev := range []schemas.Event{
		schemas.ConversationCreated{Kind: schemas.RoomKindPrivate, Title: cmd.Title, Description: cmd.Description},
		schemas.MemberAdded{Nickname: cmd.Nickname},
	} {
		if err := d.stamp(r, dp, schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID, Payload: ev}); err != nil {
			return decision{}, nil, err
		}
	}
	d.result.Room, d.result.Created = roomView(r, dp.capacity), true
	return d, r, nil
}
