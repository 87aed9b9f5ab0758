package command

import (
	"context"

	"happychat/schemas"
)

// Edit replaces the text of the caller's own message within the edit
// window (Config.EditWindow); admins never edit. The new text is checked
// like a send's, and softened and searched for effects on every read path
// like one. Repeating the latest text appends nothing (a retry).
func (s *Service) Edit(ctx context.Context, c Caller, room, message schemas.ID, body string) (schemas.Message, error) {
	if c.Admin {
		return schemas.Message{}, forbidden("an admin may delete a message, never edit it")
	}
	if err := c.needUser(); err != nil {
		return schemas.Message{}, err
	}
	body, err := cleanText("body", body, 1, maxBody)
	if err != nil {
		return schemas.Message{}, err
	}
	if err := allow(s.limits.send, c.UserID, slowDown); err != nil {
		return schemas.Message{}, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindEdit, RoomID: room, UserID: c.UserID, Nickname: c.Nickname,
		MessageID: message, Body: body, Credential: c.Token})
	if err != nil {
		return schemas.Message{}, err
	}
	return *res.Message, nil
}

func decideEdit(r *room, cmd Command, dp deps) (decision, error) {
	m, err := commandMessage(r, cmd, dp)
	if err != nil {
		return decision{}, err
	}
	switch {
	case cmd.Admin || m.author != cmd.UserID:
		return decision{}, forbidden("only its author may edit a message")
	case m.deleted:
		return decision{}, schemas.Errorf(schemas.CodeConflict, "the message was deleted")
	}
	var d decision
	if textHash(cmd.Body) == m.textHash {
		// The latest text already: a retry, or an edit that changes nothing.
		msg := editedView(m, cmd.Body, dp)
		d.result.Message = &msg
		return d, nil
	}
	if dp.now.Sub(m.at) > dp.editWindow {
		return decision{}, forbidden("a message may be edited only within " + dp.editWindow.String() + " of sending it")
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MessageEdited{MessageID: m.id, Text: cmd.Body}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	nm := m.next(d.events[0])
	dp.recordMsg(nm)
	msg := editedView(nm, cmd.Body, dp)
	d.result.Message = &msg
	return d, nil
}

// editedView renders a message with its latest text.
func editedView(m *msgMeta, text string, dp deps) schemas.Message {
	msg := dp.render(schemas.Envelope{ID: m.id, RoomID: m.room, UserID: m.author, Seq: m.seq, OccurredAt: m.at,
		Payload: schemas.MessageSent{Text: text, ClientMsgID: m.clientMsgID, Nickname: m.nickname}})
	if !m.editedAt.IsZero() {
		msg.EditedAt = schemas.FormatTime(m.editedAt)
	}
	msg.Reactions = apiReactions(m.reactions)
	return msg
}
