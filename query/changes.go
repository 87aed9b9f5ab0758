package query

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"happychat/schemas"
)

// What happened to messages after they were sent (message_changes, written
// by the ClickHouse projector): the latest edit or the delete, and each
// member's latest reaction per emoji. History pages and exports read it for
// the messages they return, overlayBatch at a time.

// overlayBatch is how many messages one message_changes query covers.
const overlayBatch = 256

// changesSQL reads the latest row of each (message, key) of n messages:
// ReplacingMergeTree keeps the highest seq once merged, LIMIT 1 BY takes it
// before. One placeholder per id (the driver sends a slice as an array,
// which IN refuses); the text is made of constant fragments only.
func changesSQL(n int) string {
	return `SELECT id, key, kind, user_id, emoji, body, effects, at_ms, seq
	FROM message_changes WHERE room_id = ? AND id IN (` + strings.TrimSuffix(strings.Repeat("?,", n), ",") + `)
	ORDER BY id, key, seq DESC LIMIT 1 BY id, key`
}

// change is one message_changes row.
type change struct {
	id, user, seq    uint64
	key, kind, emoji string
	body             string
	effects          []string
	atMS             int64
}

// overlay applies the changes of the messages in msgs (and the deletes of
// the messages they reply to) in place.
func (s *Service) overlay(ctx context.Context, room schemas.ID, msgs []schemas.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	args := make([]any, 0, 1+2*len(msgs))
	args = append(args, uint64(room))
	for _, m := range msgs {
		args = append(args, uint64(m.ID))
		if m.ReplyTo != nil {
			args = append(args, uint64(m.ReplyTo.MessageID))
		}
	}
	rows, err := s.ch.Query(ctx, changesSQL(len(args)-1), args...)
	if err != nil {
		return storeError(ctx, fmt.Errorf("read message changes of room %d: %w", room, err))
	}
	defer func() { _ = rows.Close() }()
	byID := map[schemas.ID][]change{}
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.id, &c.key, &c.kind, &c.user, &c.emoji, &c.body, &c.effects, &c.atMS, &c.seq); err != nil {
			return fmt.Errorf("read message changes of room %d: scan: %w", room, err)
		}
		byID[schemas.ID(c.id)] = append(byID[schemas.ID(c.id)], c)
	}
	if err := rows.Err(); err != nil {
		return storeError(ctx, fmt.Errorf("read message changes of room %d: %w", room, err))
	}
	for i := range msgs {
		applyChanges(&msgs[i], byID[msgs[i].ID])
		if rt := msgs[i].ReplyTo; rt != nil && !rt.Deleted && isDeleted(byID[rt.MessageID]) {
			msgs[i].ReplyTo = &schemas.ReplyTo{MessageID: rt.MessageID, UserID: rt.UserID, Nickname: rt.Nickname, Deleted: true}
		}
	}
	return nil
}

func isDeleted(cs []change) bool {
	return slices.ContainsFunc(cs, func(c change) bool { return c.key == "text" && c.kind == "deleted" })
}

// applyChanges folds a message's latest changes into it: the latest text
// and its edit time, or a tombstone; the reactions present, per emoji in the
// order their latest add was made.
func applyChanges(m *schemas.Message, cs []change) {
	if m.Deleted || isDeleted(cs) {
		tombstone(m)
		return
	}
	slices.SortFunc(cs, func(a, b change) int { return int(a.seq) - int(b.seq) })
	for _, c := range cs {
		switch {
		case c.key == "text" && c.kind == "edited":
			m.Body, m.Effects = c.body, c.effects
			if m.Effects == nil {
				m.Effects = []string{}
			}
			m.EditedAt = schemas.FormatTime(time.UnixMilli(c.atMS))
		case c.kind == "reaction_added":
			i := slices.IndexFunc(m.Reactions, func(r schemas.Reaction) bool { return r.Emoji == c.emoji })
			if i < 0 {
				m.Reactions = append(m.Reactions, schemas.Reaction{Emoji: c.emoji})
				i = len(m.Reactions) - 1
			}
			m.Reactions[i].UserIDs = append(m.Reactions[i].UserIDs, schemas.ID(c.user))
		}
	}
}

// tombstone is what every view shows of a deleted message: who sent it and
// when, nothing of what it said.
func tombstone(m *schemas.Message) {
	m.Deleted = true
	m.Body, m.Effects, m.EditedAt = "", []string{}, ""
	m.ReplyTo, m.Reactions, m.Mentions = nil, nil, nil
}
