package query

import (
	"context"
	"fmt"
	"time"

	"happychat/schemas"
)

// MaxBlocks bounds GET /v1/me/blocks: the newest blocks, one page.
const MaxBlocks = 1000

// Block is one user the caller blocks (GET /v1/me/blocks).
type Block struct {
	UserID    schemas.ID `json:"user_id"`
	Nickname  string     `json:"nickname"`
	BlockedAt string     `json:"blocked_at"`
}

const (
	sqlBlocks = `SELECT blocked, nickname, blocked_at FROM blocks WHERE blocker = $1
	ORDER BY event_id DESC LIMIT $2`
	sqlBlockedIDs = `SELECT blocked FROM blocks WHERE blocker = $1`
)

// Blocks returns the users the caller blocks, newest first.
func (s *Service) Blocks(ctx context.Context, c Caller) ([]Block, error) {
	if c.UserID == 0 {
		return nil, needUserToken(c, "a block list")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlBlocks, int64(c.UserID), MaxBlocks)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("blocks: %w", err))
	}
	defer rows.Close()
	out := []Block{}
	for rows.Next() {
		var (
			user int64
			nick string
			at   time.Time
		)
		if err := rows.Scan(&user, &nick, &at); err != nil {
			return nil, fmt.Errorf("blocks: scan: %w", err)
		}
		out = append(out, Block{UserID: schemas.ID(user), Nickname: nick, BlockedAt: schemas.FormatTime(at)})
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("blocks: %w", err))
	}
	return out, nil
}

// blockedBy returns the users c blocks, for hiding their messages from c
// in history and timeline pages (nothing for an anonymous caller or the
// admin). Hiding is per viewer and only in the views: nothing is erased.
func (s *Service) blockedBy(ctx context.Context, c Caller) (map[schemas.ID]bool, error) {
	if c.UserID == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlBlockedIDs, int64(c.UserID))
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("blocked users: %w", err))
	}
	defer rows.Close()
	var out map[schemas.ID]bool
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("blocked users: scan: %w", err)
		}
		if out == nil {
			out = map[schemas.ID]bool{}
		}
		out[schemas.ID(id)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("blocked users: %w", err))
	}
	return out, nil
}

// hideBlocked drops the messages of blocked users from a page. The page's
// cursor stays the one of the unfiltered page, so a page may hold fewer
// messages than its limit, never a gap.
func hideBlocked(msgs []schemas.Message, blocked map[schemas.ID]bool) []schemas.Message {
	if len(blocked) == 0 {
		return msgs
	}
	out := msgs[:0]
	for _, m := range msgs {
		if !blocked[m.UserID] {
			out = append(out, m)
		}
	}
	return out
}

// hideBlockedItems turns the message items of blocked users into the
// room_event items that keep their seq (the client's order of a room's
// events stays whole; it shows none of them).
func hideBlockedItems(room schemas.ID, items []TimelineItem, blocked map[schemas.ID]bool) {
	if len(blocked) == 0 {
		return
	}
	for i, it := range items {
		if it.Type == "message" && it.Message != nil && blocked[it.Message.UserID] {
			items[i] = TimelineItem{Type: "room_event", RoomID: room, Seq: it.Message.Seq, Event: schemas.TypeMessageSent,
				At: it.Message.SentAt}
		}
	}
}

// needUserToken refuses an anonymous caller (401) or the admin token
// (403) on a route that reads a user's own data.
func needUserToken(c Caller, what string) error {
	if c.Admin {
		return schemas.Errorf(schemas.CodeForbidden, what+" is a user's: send a user token, not the admin token")
	}
	return schemas.Errorf(schemas.CodeUnauthorized, what+" needs a user token")
}
