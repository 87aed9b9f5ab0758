package query

import (
	"context"
	"fmt"
	"time"

	"happychat/schemas"
)

// MaxConversations bounds GET /v1/conversations: the caller's private rooms
// and direct messages, most recently active first, in one page.
const MaxConversations = 200

// sqlConversations lists the rooms the caller ($1) is a current member of
// that are not topics (members_conversations index), then their members.
const (
	sqlConversations = `SELECT` + roomColumns + `
	FROM rooms r WHERE r.room_id IN (
		SELECT room_id FROM members WHERE user_id = $1 AND NOT topic AND left_at IS NULL)
	ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.room_id DESC
	LIMIT $2`
	sqlConversationMembers = `
	SELECT DISTINCT ON (room_id, user_id) room_id, user_id, nickname, joined_at
	FROM members WHERE room_id = ANY($1) AND left_at IS NULL
	ORDER BY room_id, user_id, join_event_id DESC`
)

// Conversations returns the caller's private rooms and direct messages,
// each with its current members (a direct message's title is empty: a
// client names it after the other member).
func (s *Service) Conversations(ctx context.Context, c Caller) ([]schemas.Room, error) {
	if c.UserID == 0 {
		return nil, schemas.Errorf(schemas.CodeUnauthorized, "conversations need a user token")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlConversations, userParam(c), MaxConversations)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("conversations: %w", err))
	}
	out := []schemas.Room{}
	var ids []int64
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("conversations: scan: %w", err)
		}
		room := r.api(s.cfg.Capacity)
		room.Members = &[]schemas.Member{}
		out, ids = append(out, room), append(ids, int64(r.ID))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("conversations: %w", err))
	}
	if len(ids) == 0 {
		return out, nil
	}
	at := make(map[schemas.ID]int, len(out))
	for i, r := range out {
		at[r.ID] = i
	}
	mrows, err := s.pg.Query(ctx, sqlConversationMembers, ids)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("conversation members: %w", err))
	}
	defer mrows.Close()
	for mrows.Next() {
		var (
			room, user int64
			nickname   string
			joined     time.Time
		)
		if err := mrows.Scan(&room, &user, &nickname, &joined); err != nil {
			return nil, fmt.Errorf("conversation members: scan: %w", err)
		}
		ms := out[at[schemas.ID(room)]].Members
		*ms = append(*ms, schemas.Member{UserID: schemas.ID(user), Nickname: nickname, JoinedAt: schemas.FormatTime(joined)})
	}
	if err := mrows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("conversation members: %w", err))
	}
	return out, nil
}
