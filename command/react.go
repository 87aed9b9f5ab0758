package command

import (
	"context"
	"strconv"

	"happychat/schemas"
)

// React adds (add) or removes the caller's emoji reaction on a message.
// Only members of the room react; the emoji is one grapheme; a message holds
// at most maxReactionKinds distinct emoji. Idempotent per (user, message,
// emoji): adding one already there, or removing one that is not, appends
// nothing.
func (s *Service) React(ctx context.Context, c Caller, room, message schemas.ID, emoji string, add bool) error {
	if err := c.needUser(); err != nil {
		return err
	}
	if !validEmoji(emoji) {
		return badRequest("emoji must be a single emoji (one grapheme, at most " + strconv.Itoa(schemas.MaxEmojiBytes) + " bytes)")
	}
	if err := allow(s.limits.send, c.UserID, slowDown); err != nil {
		return err
	}
	kind := KindReact
	if !add {
		kind = KindUnreact
	}
	_, err := s.Execute(ctx, Command{Kind: kind, RoomID: room, UserID: c.UserID, MessageID: message, Emoji: emoji, Credential: c.Token})
	return err
}

func decideReaction(r *room, cmd Command, dp deps) (decision, error) {
	if r == nil {
		return decision{}, notFound("no such room")
	}
	if _, isMember := r.current(cmd.UserID, dp); !isMember {
		return decision{}, forbidden("only members of the room may react")
	}
	m, err := findMessage(r, cmd.MessageID, dp, "")
	if err != nil {
		return decision{}, err
	}
	if m.deleted {
		return decision{}, schemas.Errorf(schemas.CodeConflict, "the message was deleted")
	}
	d := decision{result: Result{Done: true}}
	var ev schemas.Event
	if cmd.Kind == KindReact {
		if m.reacted(cmd.UserID, cmd.Emoji) {
			return d, nil
		}
		if !m.hasEmoji(cmd.Emoji) && len(m.reactions) >= maxReactionKinds {
			return decision{}, schemas.Errorf(schemas.CodeConflict,
				"a message holds at most "+strconv.Itoa(maxReactionKinds)+" different emoji reactions")
		}
		ev = schemas.ReactionAdded{MessageID: m.id, Emoji: cmd.Emoji}
	} else {
		if !m.reacted(cmd.UserID, cmd.Emoji) {
			return d, nil
		}
		ev = schemas.ReactionRemoved{MessageID: m.id, Emoji: cmd.Emoji}
	}
	if err := d.stamp(r, dp, schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID, Payload: ev}); err != nil {
		return decision{}, err
	}
	dp.recordMsg(m.next(d.events[0]))
	return d, nil
}
