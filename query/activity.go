package query

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"happychat/schemas"
)

// Bucket sizes of the activity analytics, with the default range (when from
// is absent) and the largest range each allows. The limits keep every answer
// at no more than about 2,200 buckets: minutes over a year would be half a
// million.
var buckets = map[string]struct {
	size, def, max time.Duration
}{
	"minute": {time.Minute, time.Hour, 24 * time.Hour},
	"hour":   {time.Hour, 24 * time.Hour, 92 * 24 * time.Hour},
	"day":    {24 * time.Hour, 30 * 24 * time.Hour, 1096 * 24 * time.Hour},
}

// ActivityQuery asks for message activity per bucket over [From, To), in
// one room or (Room zero) across all rooms. Zero From or To take defaults.
type ActivityQuery struct {
	Room     schemas.ID
	Bucket   string
	From, To time.Time
}

// ActivityBucket is one bucket of the answer.
type ActivityBucket struct {
	Start    string `json:"start"`
	Messages int64  `json:"messages"`
	Senders  int64  `json:"senders"`
}

// activityRange resolves the query's range to whole buckets: From is
// rounded down and To up to a bucket boundary (UTC), so every bucket counts
// all of its messages. To defaults to now and From to To minus the bucket's
// default range.
func activityRange(q ActivityQuery, now time.Time) (start, end time.Time, size time.Duration, err error) {
	b, ok := buckets[q.Bucket]
	if !ok {
		return start, end, 0, badRequest("bucket must be one of: minute, hour, day")
	}
	to := q.To
	if to.IsZero() {
		to = now
	}
	from := q.From
	if from.IsZero() {
		from = to.Add(-b.def)
	}
	if !from.Before(to) {
		return start, end, 0, badRequest("from must be before to")
	}
	start = from.UTC().Truncate(b.size)
	end = to.UTC().Truncate(b.size)
	if end.Before(to) {
		end = end.Add(b.size)
	}
	if end.Sub(start) > b.max {
		return start, end, 0, badRequest(fmt.Sprintf("range too large for bucket %s: at most %s (%d buckets)",
			q.Bucket, humanDuration(b.max), b.max/b.size))
	}
	return start, end, b.size, nil
}

func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return strconv.Itoa(int(d/time.Hour)) + " hours"
}

// The activity queries. sent_at (seconds) is filtered as well as sent_ms so
// that ClickHouse prunes the monthly partitions; FINAL makes the counts exact
// while a replay's duplicates are not merged yet (it merges sorted streams,
// so its memory does not grow with the range the way uniqExact(id) would).
const (
	// sqlNotPrivate keeps the messages of private rooms and direct
	// messages out of the site-wide figures: they are their members' only
	// (a room's own figures are, through loadRoom). A conversation's first
	// event is its conversation.created.
	sqlNotPrivate = `
		AND room_id NOT IN (SELECT room_id FROM room_events WHERE seq = 1 AND type = '` + schemas.TypeConversationCreated + `')`
	sqlActivity = `SELECT toInt64(intDiv(sent_ms, ?)) AS b, count() AS messages, uniqExact(user_id) AS senders
		FROM messages FINAL
		WHERE sent_at >= toDateTime(?) AND sent_at <= toDateTime(?) AND sent_ms >= ? AND sent_ms < ?` + sqlNotPrivate + `
		GROUP BY b ORDER BY b` + sqlThrowOnOverflow
	sqlActivityRoom = `SELECT toInt64(intDiv(sent_ms, ?)) AS b, count() AS messages, uniqExact(user_id) AS senders
		FROM messages FINAL
		WHERE room_id = ? AND sent_at >= toDateTime(?) AND sent_at <= toDateTime(?) AND sent_ms >= ? AND sent_ms < ?
		GROUP BY b ORDER BY b` + sqlThrowOnOverflow
)

// Activity counts messages and distinct senders per bucket. Every bucket of
// the range is present, empty ones with zeros.
func (s *Service) Activity(ctx context.Context, c Caller, q ActivityQuery) ([]ActivityBucket, error) {
	start, end, size, err := activityRange(q, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	if q.Room != 0 {
		if _, err := s.loadRoom(ctx, c, q.Room); err != nil {
			return nil, err
		}
	}
	out := make([]ActivityBucket, 0, end.Sub(start)/size)
	for t := start; t.Before(end); t = t.Add(size) {
		out = append(out, ActivityBucket{Start: schemas.FormatTime(t)})
	}
	sizeMS := size.Milliseconds()
	args := []any{uint64(sizeMS)}
	query := sqlActivity
	if q.Room != 0 {
		query = sqlActivityRoom
		args = append(args, uint64(q.Room))
	}
	args = append(args, start.Unix(), end.Unix(), start.UnixMilli(), end.UnixMilli())

	release, err := s.analytics.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AnalyticsTimeout)
	defer cancel()
	if err := s.probeReach(ctx, q.Room, start, end); err != nil {
		return nil, err
	}
	rows, err := s.ch.Query(s.analyticsSettings(ctx), query, args...)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("activity: %w", err))
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			b                 int64
			messages, senders uint64
		)
		if err := rows.Scan(&b, &messages, &senders); err != nil {
			return nil, fmt.Errorf("activity: scan: %w", err)
		}
		i := (b*sizeMS - start.UnixMilli()) / sizeMS
		if i < 0 || i >= int64(len(out)) {
			continue // cannot happen with the WHERE above; never index out of range
		}
		out[i].Messages, out[i].Senders = int64(messages), int64(senders)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("activity: %w", err))
	}
	return out, nil
}
