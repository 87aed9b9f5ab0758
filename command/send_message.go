package command

import "happychat/schemas"

// decideSend posts a message. A retry with the same (user, client_msg_id)
// in the same room answers the original message and appends nothing.
func decideSend(r *room, cmd Command, dp deps, overlay map[sentKey]sent) (decision, error) {
	if r == nil {
		return decision{}, notFound("no such room")
	}
	key := sentKey{cmd.UserID, cmd.ClientMsgID}
	prev, dup := overlay[key]
	if !dup {
		prev, dup = r.sent[key]
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
	// The room's dedupe map is shared with the committed state: record the
	// tentative send in the batch overlay instead (apply would write it).
	saved := r.sent
	r.sent = map[sentKey]sent{}
	err := d.stamp(r, dp, env)
	for k, v := range r.sent {
		overlay[k] = v
	}
	r.sent = saved
	if err != nil {
		return decision{}, err
	}
	msg := dp.render(d.events[0])
	d.result.Message = &msg
	return d, nil
}
