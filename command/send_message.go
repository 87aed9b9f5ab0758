package command

import (
	"slices"

	"happychat/schemas"
)

// decideSend posts a message. A retry with the same (user, client_msg_id)
// in the same room answers the original message and appends nothing, at
// any age (see dedupe.go); when an old send cannot be looked up, the retry
// is refused rather than risk a duplicate. A reply carries the original's
// author and preview as they are now (messages.go); mentions must name
// current members.
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
		if prev.deleted {
			msg.Body, msg.Effects, msg.Deleted = "", []string{}, true
		}
		d.result.Message = &msg
		return d, nil
	}
	if r.status == schemas.RoomStatusClosed {
		return decision{}, schemas.Errorf(schemas.CodeRoomClosed, "the room was closed by an admin: nobody posts in it any more")
	}
	if _, isMember := r.current(cmd.UserID, dp); !isMember {
		return decision{}, forbidden("only members of the room may post")
	}
	if err := r.refuseBlocked(cmd.UserID); err != nil {
		return decision{}, err
	}
	p := schemas.MessageSent{Text: cmd.Body, ClientMsgID: cmd.ClientMsgID, Nickname: cmd.Nickname}
	if cmd.ReplyTo != 0 {
		if p.ReplyTo, err = replyTo(r, cmd.ReplyTo, dp); err != nil {
			return decision{}, err
		}
	}
	for _, u := range cmd.Mentions {
		if _, ok := r.members[u]; !ok {
			return decision{}, badRequest("mentions must be user ids of current members of the room")
		}
	}
	p.Mentions = slices.Clone(cmd.Mentions)
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID, Payload: p}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	e := d.events[0]
	dp.recordSent(key, sent{id: e.ID, seq: e.Seq, text: cmd.Body, nickname: cmd.Nickname, at: e.OccurredAt})
	if dp.recordMsg != nil {
		dp.recordMsg(newMsgMeta(e, p))
	}
	msg := dp.render(e)
	d.result.Message = &msg
	return d, nil
}

// replyTo captures what a reply shows of the message it answers, which must
// be a message of the same room.
func replyTo(r *room, id schemas.ID, dp deps) (*schemas.ReplyTo, error) {
	orig, err := findMessage(r, id, dp, "reply_to")
	if err != nil {
		return nil, err
	}
	return &schemas.ReplyTo{MessageID: orig.id, UserID: orig.author, Nickname: orig.nickname,
		Preview: orig.preview, Deleted: orig.deleted}, nil
}

// findMessage returns the state of message id of room r. field names the
// request's field for a 400 (a reply's reply_to); empty, an unknown message
// is a 404 (the path named it).
func findMessage(r *room, id schemas.ID, dp deps, field string) (*msgMeta, error) {
	if dp.findMsg == nil {
		return nil, unavailable("messages cannot be looked up here")
	}
	m, ok, err := dp.findMsg(id)
	if err != nil {
		return nil, unavailable("cannot look this message up now, retry")
	}
	if !ok || m.room != r.id {
		if field != "" {
			return nil, badRequest(field + " must be the id of a message of this room")
		}
		return nil, notFound("no such message in this room")
	}
	return m, nil
}

// commandMessage returns the message an edit or a delete names, of room r.
func commandMessage(r *room, cmd Command, dp deps) (*msgMeta, error) {
	if r == nil {
		return nil, notFound("no such room")
	}
	return findMessage(r, cmd.MessageID, dp, "")
}
