package command

import (
	"context"

	"happychat/schemas"
)

// Delete takes a message back: its author may, at any time, and so may an
// admin (the admin token). Every view replaces it with a tombstone. Deleting
// a deleted message appends nothing.
func (s *Service) Delete(ctx context.Context, c Caller, room, message schemas.ID) error {
	if !c.Admin {
		if err := c.needUser(); err != nil {
			return err
		}
		if err := allow(s.limits.send, c.UserID, slowDown); err != nil {
			return err
		}
	}
	_, err := s.Execute(ctx, Command{Kind: KindDelete, RoomID: room, UserID: c.UserID, Admin: c.Admin,
		MessageID: message, Credential: c.Token})
	return err
}

func decideDelete(r *room, cmd Command, dp deps) (decision, error) {
	m, err := commandMessage(r, cmd, dp)
	if err != nil {
		return decision{}, err
	}
	if !cmd.Admin && m.author != cmd.UserID {
		return decision{}, forbidden("only its author or an admin may delete a message")
	}
	d := decision{result: Result{Done: true}}
	if m.deleted {
		return d, nil
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MessageDeleted{MessageID: m.id, AuthorID: m.author, Nickname: m.nickname, MessageSeq: m.seq,
			SentAt: schemas.FormatTime(m.at), ByAdmin: cmd.Admin}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	dp.recordMsg(m.next(d.events[0]))
	return d, nil
}
