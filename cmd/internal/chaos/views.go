package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"happychat/schemas"
)

// ViewRoom is what the views say about one room: PostgreSQL's rooms row
// and ClickHouse's history.
type ViewRoom struct {
	// PostgreSQL rooms: message_count, member_count, last_seq. Found is
	// false when the room has no row.
	PGFound    bool
	PGMessages int64
	PGMembers  int64
	PGLastSeq  int64
	// ClickHouse: messages (FINAL) and room_events (FINAL) of the room.
	CHMessages int64
	CHEvents   int64
	CHMaxSeq   int64
}

// CompareViews checks the views of rooms against the fold: after catch-up,
// counts per room are exact in both stores.
func CompareViews(f *Fold, rooms []schemas.ID, views map[schemas.ID]ViewRoom) []Finding {
	var out []Finding
	for _, id := range rooms {
		r := f.Rooms[id]
		if r == nil {
			continue
		}
		v := views[id]
		var diffs []string
		if !v.PGFound {
			diffs = append(diffs, "no PostgreSQL row")
		} else {
			if v.PGMessages != r.Messages {
				diffs = append(diffs, fmt.Sprintf("PostgreSQL message_count %d, log %d", v.PGMessages, r.Messages))
			}
			if v.PGMembers != int64(len(r.Members)) {
				diffs = append(diffs, fmt.Sprintf("PostgreSQL member_count %d, log %d", v.PGMembers, len(r.Members)))
			}
			if v.PGLastSeq != r.Seq {
				diffs = append(diffs, fmt.Sprintf("PostgreSQL last_seq %d, log %d", v.PGLastSeq, r.Seq))
			}
		}
		if v.CHMessages != r.Messages {
			diffs = append(diffs, fmt.Sprintf("ClickHouse messages %d, log %d", v.CHMessages, r.Messages))
		}
		if v.CHEvents != r.Seq || v.CHMaxSeq != r.Seq {
			diffs = append(diffs, fmt.Sprintf("ClickHouse room_events %d (max seq %d), log %d", v.CHEvents, v.CHMaxSeq, r.Seq))
		}
		if len(diffs) > 0 {
			out = append(out, finding(KindView, id, "%s", strings.Join(diffs, "; ")))
		}
	}
	return out
}

// idList renders ids as a SQL list of numbers (ids are ours, never input).
func idList(ids []schemas.ID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id.String()
	}
	return strings.Join(parts, ",")
}

// readViews reads both stores for rooms.
func (s *system) readViews(ctx context.Context, rooms []schemas.ID) (map[schemas.ID]ViewRoom, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out := map[schemas.ID]ViewRoom{}
	ids := make([]int64, len(rooms))
	for i, r := range rooms {
		ids[i] = int64(r)
	}
	rows, err := s.pg.Query(ctx, `SELECT room_id, message_count, member_count, last_seq FROM rooms WHERE room_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL rooms: %w", err)
	}
	for rows.Next() {
		var (
			id                  int64
			msgs, members, last int64
		)
		if err := rows.Scan(&id, &msgs, &members, &last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("PostgreSQL rooms: %w", err)
		}
		v := out[schemas.ID(id)]
		v.PGFound, v.PGMessages, v.PGMembers, v.PGLastSeq = true, msgs, members, last
		out[schemas.ID(id)] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("PostgreSQL rooms: %w", err)
	}
	list := idList(rooms)
	chRows, err := s.ch.Query(ctx, `SELECT room_id, count() FROM messages FINAL WHERE room_id IN (`+list+`) GROUP BY room_id`)
	if err != nil {
		return nil, fmt.Errorf("ClickHouse messages: %w", err)
	}
	for chRows.Next() {
		var id, n uint64
		if err := chRows.Scan(&id, &n); err != nil {
			chRows.Close()
			return nil, fmt.Errorf("ClickHouse messages: %w", err)
		}
		v := out[schemas.ID(id)]
		v.CHMessages = int64(n)
		out[schemas.ID(id)] = v
	}
	chRows.Close()
	if err := chRows.Err(); err != nil {
		return nil, fmt.Errorf("ClickHouse messages: %w", err)
	}
	chRows, err = s.ch.Query(ctx, `SELECT room_id, count(), max(seq) FROM room_events FINAL WHERE room_id IN (`+list+`) GROUP BY room_id`)
	if err != nil {
		return nil, fmt.Errorf("ClickHouse room_events: %w", err)
	}
	for chRows.Next() {
		var id, n, maxSeq uint64
		if err := chRows.Scan(&id, &n, &maxSeq); err != nil {
			chRows.Close()
			return nil, fmt.Errorf("ClickHouse room_events: %w", err)
		}
		v := out[schemas.ID(id)]
		v.CHEvents, v.CHMaxSeq = int64(n), int64(maxSeq)
		out[schemas.ID(id)] = v
	}
	chRows.Close()
	if err := chRows.Err(); err != nil {
		return nil, fmt.Errorf("ClickHouse room_events: %w", err)
	}
	return out, nil
}

// waitViews polls the views until they match the fold for rooms or
// timeout passes; it returns how long they took and, on timeout, what
// still differs.
func (s *system) waitViews(ctx context.Context, f *Fold, rooms []schemas.ID, timeout time.Duration) (time.Duration, []Finding) {
	start := time.Now()
	if len(rooms) == 0 {
		return 0, nil
	}
	var last []Finding
	for {
		views, err := s.readViews(ctx, rooms)
		if err == nil {
			last = CompareViews(f, rooms, views)
			if len(last) == 0 {
				return time.Since(start), nil
			}
		} else {
			last = []Finding{finding(KindView, 0, "reading the views: %v", err)}
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start), last
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
}

// deadLetters counts the dead letters of the run's rooms topic in each
// store (PostgreSQL per projector).
func (s *system) deadLetters(ctx context.Context) (pg, ch int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.pg.QueryRow(ctx, `SELECT count(*) FROM dead_letters WHERE topic = $1`, s.names.Rooms).Scan(&pg); err != nil {
		return 0, 0, fmt.Errorf("PostgreSQL dead_letters: %w", err)
	}
	var n uint64
	if err := s.ch.QueryRow(ctx, `SELECT count() FROM dead_letters FINAL WHERE topic = '`+s.names.Rooms+`'`).Scan(&n); err != nil {
		return 0, 0, fmt.Errorf("ClickHouse dead_letters: %w", err)
	}
	return pg, int64(n), nil
}

// viewDigest summarises every table of both stores, for "views after a
// replay equal views before" (ClickHouse through FINAL: merges are not
// part of what a view says).
func (s *system) viewDigest(ctx context.Context, rooms []schemas.ID) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ids := make([]int64, len(rooms))
	for i, r := range rooms {
		ids[i] = int64(r)
	}
	out := map[string]string{}
	pgQueries := map[string]string{
		"pg rooms": `SELECT md5(coalesce(string_agg(concat_ws('|', room_id, title, description, status, created_by, created_at, approved_at,
			member_count, message_count, last_message_at, last_message_id, last_seq), ',' ORDER BY room_id), '')) FROM rooms WHERE room_id = ANY($1)`,
		"pg members": `SELECT md5(coalesce(string_agg(concat_ws('|', room_id, user_id, join_event_id, nickname, joined_at, left_at, left_reason, ended_by),
			',' ORDER BY room_id, user_id, join_event_id), '')) FROM members WHERE room_id = ANY($1)`,
		"pg room_messages": `SELECT md5(coalesce(string_agg(concat_ws('|', room_id, message_id, seq, ordinal), ',' ORDER BY room_id, message_id), ''))
			FROM room_messages WHERE room_id = ANY($1)`,
	}
	for _, name := range slices.Sorted(maps.Keys(pgQueries)) {
		var d string
		if err := s.pg.QueryRow(ctx, pgQueries[name], ids).Scan(&d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = d
	}
	list := idList(rooms)
	chQueries := map[string]string{
		"ch messages": `SELECT count(), sum(id), sum(seq), sum(user_id), sum(length(body)), sum(length(text)), sum(sent_ms), sum(length(effects))
			FROM messages FINAL WHERE room_id IN (` + list + `)`,
		"ch room_events": `SELECT count(), sum(id), sum(seq), sum(user_id), sum(occurred_ms), sum(length(type)) FROM room_events FINAL WHERE room_id IN (` + list + `)`,
	}
	for _, name := range slices.Sorted(maps.Keys(chQueries)) {
		rows, err := s.ch.Query(ctx, chQueries[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		cols := rows.ColumnTypes()
		var parts []string
		for rows.Next() {
			vals := make([]any, len(cols))
			for i, c := range cols {
				switch c.DatabaseTypeName() {
				case "Int64":
					vals[i] = new(int64)
				default:
					vals[i] = new(uint64)
				}
			}
			if err := rows.Scan(vals...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case *int64:
					parts = append(parts, strconv.FormatInt(*v, 10))
				case *uint64:
					parts = append(parts, strconv.FormatUint(*v, 10))
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = strings.Join(parts, "/")
	}
	return out, nil
}
