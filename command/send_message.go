package command

import "happychat/schemas"

// decideSend posts a message. A retry with the same (user, client_msg_id)
// in the same room answers the original message and appends nothing, at
// any age (see dedupe.go); when an old send cannot be looked up, the retry
// is refused rather than risk a duplicate.
func decideSend(r *room, cmd Command, dp deps) (decision, error) {
	if r == nil {
		return decision{}, notFound("no such room")
	}
	key := sentKey{room: r.id, user: cmd.UserID, clientMsgID: cmd.ClientMsgID}
	prev, dup, err := dp.findSent(key)
	if err != nil {
		return decision{}, unavailable("cannot check this client_msg_id against older sends now, retry")
	}
	var d decision
	if dup {
		msg := dp.render(schemas.Envelope{ID: prev.id, RoomID: r.id, UserID: cmd.UserID, Seq: prev.seq, OccurredAt: prev.at,
			Payload: schemas.MessageSent{Text: prev.text, ClientMsgID: cmd.ClientMsgID, Nickname: prev.nickname}})
		d.result.Message = &msg
		return d, nil
	}
	m, isMember := r.members[cmd.UserID]
	if loc, ok := dp.locate(cmd.UserID); !isMember || ok && loc.superseded(r.id, m.joinID) {
		return decision{}, forbidden("only members of the room may post")
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MessageSent{Text: cmd.Body, ClientMsgID: cmd.ClientMsgID, Nickname: cmd.Nickname}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	e := d.events[0]
	dp.recordSent(key, sent{id: e.ID, seq: e.Seq, text: cmd.Body, nickname: cmd.Nickname, at: e.OccurredAt})
	msg := dp.render(e)
	d.result.Message = &msg
	return d, nil
}
