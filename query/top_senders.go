package query

import (
	"context"
	"fmt"
	"time"

	"happychat/schemas"
)

// Top-senders limits, the default range (when from is absent) and the
// largest range: the query reads every message of the range (of every room
// when none is named), so the range bounds its work; the limit bounds its
// answer.
const (
	DefaultTopSenders = 10
	MaxTopSenders     = 100
	defaultTopRange   = 30 * 24 * time.Hour
	MaxTopRange       = 92 * 24 * time.Hour
)

// TopSendersQuery asks for the users who sent the most messages over
// [From, To), in one room or (Room zero) across all rooms.
type TopSendersQuery struct {
	Room     schemas.ID
	From, To time.Time
	Limit    int
}

// Sender is one row of the answer. Nickname is the one of the sender's
// newest message in the range.
type Sender struct {
	UserID   schemas.ID `json:"user_id"`
	Nickname string     `json:"nickname"`
	Messages int64      `json:"messages"`
}

// Ties are broken by user id so that the answer is stable.
const (
	sqlTopSenders = `SELECT user_id, argMax(nickname, id) AS nickname, count() AS messages
		FROM messages FINAL
		WHERE sent_at >= toDateTime(?) AND sent_at <= toDateTime(?) AND sent_ms >= ? AND sent_ms < ?` + sqlNotPrivate + `
		GROUP BY user_id ORDER BY messages DESC, user_id ASC LIMIT ?` + sqlThrowOnOverflow
	sqlTopSendersRoom = `SELECT user_id, argMax(nickname, id) AS nickname, count() AS messages
		FROM messages FINAL
		WHERE room_id = ? AND sent_at >= toDateTime(?) AND sent_at <= toDateTime(?) AND sent_ms >= ? AND sent_ms < ?
		GROUP BY user_id ORDER BY messages DESC, user_id ASC LIMIT ?` + sqlThrowOnOverflow
)

// TopSenders ranks senders by message count, most first.
func (s *Service) TopSenders(ctx context.Context, c Caller, q TopSendersQuery) ([]Sender, error) {
	to := q.To
	if to.IsZero() {
		to = s.cfg.Now()
	}
	from := q.From
	if from.IsZero() {
		from = to.Add(-defaultTopRange)
	}
	if !from.Before(to) {
		return nil, badRequest("from must be before to")
	}
	if to.Sub(from) > MaxTopRange {
		return nil, badRequest(fmt.Sprintf("from and to must be at most %s apart (top senders)", humanDuration(MaxTopRange)))
	}
	if q.Room != 0 {
		if _, err := s.loadRoom(ctx, c, q.Room); err != nil {
			return nil, err
		}
	}
	var args []any
	query := sqlTopSenders
	if q.Room != 0 {
		query = sqlTopSendersRoom
		args = append(args, uint64(q.Room))
	}
	// sent_at is in whole seconds: widen its bounds, sent_ms is exact.
	args = append(args, from.Unix(), to.Unix(), from.UnixMilli(), to.UnixMilli(), uint64(q.Limit))

	release, err := s.analytics.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AnalyticsTimeout)
	defer cancel()
	if err := s.probeReach(ctx, q.Room, from, to); err != nil {
		return nil, err
	}
	rows, err := s.ch.Query(s.analyticsSettings(ctx), query, args...)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("top senders: %w", err))
	}
	defer func() { _ = rows.Close() }()
	out := []Sender{}
	for rows.Next() {
		var (
			user     uint64
			nickname string
			messages uint64
		)
		if err := rows.Scan(&user, &nickname, &messages); err != nil {
			return nil, fmt.Errorf("top senders: scan: %w", err)
		}
		out = append(out, Sender{UserID: schemas.ID(user), Nickname: nickname, Messages: int64(messages)})
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("top senders: %w", err))
	}
	return out, nil
}
