package query

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"happychat/schemas"
)

// Reading the messages table of the ClickHouse history. Pages and the
// export both read it one id window at a time (window.go) through readWindow.

// historyColumns are the messages columns a Message is built from.
const historyColumns = `id, seq, user_id, nickname, body, effects, client_msg_id, sent_ms,
	deleted, reply_to, reply_user, reply_nickname, reply_preview, reply_deleted, mentions`

// timeSlack is how far a message's sent_at may lie from the time in its id
// for the partition pruning below to stay exact. The command service stamps
// both at the same moment; its id generator runs ahead of a clock that lags
// an id it must exceed (a new owner's clock behind the old one's), so an id's
// time leads sent_at by at most the clock skew between a room's owners, and a
// day is a wide margin.
const timeSlack = 24 * time.Hour

// windowSQL returns the query reading window w of a room in walk order, and
// its arguments. The text is assembled from constant fragments only; every
// value is a bound parameter. LIMIT 1 BY id drops the copies a replay or a
// retried insert left before ReplacingMergeTree merged them (FINAL would do
// the same but costs ClickHouse 18.16 some 30 ms even on a tiny range).
//
// The sent_at bounds change no answer (see timeSlack); they let ClickHouse
// skip the monthly partitions outside the window: without them, every part
// of every month contributes the granule where the room's rows meet the
// next room's, some 50,000 rows read for a 50-message page.
//
// With probe, every row also carries the room's projected seq (a scalar
// subquery, which ClickHouse evaluates before it reads the messages).
func windowSQL(room schemas.ID, w idWindow, desc bool, limit int, probe *seqProbe) (string, []any) {
	q := `SELECT ` + historyColumns
	var args []any
	if probe != nil {
		sub, subArgs := probe.sql()
		q += `, ` + sub + ` AS projected_seq`
		args = append(args, subArgs...)
	}
	q += ` FROM messages WHERE room_id = ?`
	args = append(args, uint64(room))
	if w.lo != 0 {
		q += ` AND id >= ? AND sent_at >= toDateTime(?)`
		args = append(args, uint64(w.lo), unixSeconds(schemas.IDTime(w.lo).Add(-timeSlack)))
	}
	if w.hi != 0 {
		q += ` AND id < ? AND sent_at <= toDateTime(?)`
		args = append(args, uint64(w.hi), unixSeconds(schemas.IDTime(w.hi).Add(timeSlack)))
	}
	// A deleted message's tombstone row comes before its original, so that
	// LIMIT 1 BY id keeps it.
	if desc {
		q += ` ORDER BY id DESC, deleted DESC`
	} else {
		q += ` ORDER BY id ASC, deleted DESC`
	}
	q += ` LIMIT 1 BY id LIMIT ?`
	args = append(args, uint64(limit))
	return q, args
}

// unixSeconds is t for toDateTime, clamped to the DateTime range.
func unixSeconds(t time.Time) int64 {
	return min(max(t.Unix(), 0), 1<<32-1)
}

// chSettings bounds a ClickHouse query on the server too (the context
// deadline only stops the client from waiting): max_execution_time is in
// whole seconds.
func chSettings(ctx context.Context, timeout time.Duration, extra clickhouse.Settings) context.Context {
	secs := int((timeout + time.Second - 1) / time.Second)
	settings := clickhouse.Settings{"max_execution_time": secs}
	for k, v := range extra {
		settings[k] = v
	}
	return clickhouse.Context(ctx, clickhouse.WithSettings(settings))
}

// windowRead is one read of a window.
type windowRead struct {
	room     schemas.ID
	w        idWindow
	desc     bool
	limit    int
	settings clickhouse.Settings
	// probe, if set, asks for the projected seq along (see windowSQL); it
	// lands in probed (0 if the window had no rows, or the probe found no
	// event).
	probe  *seqProbe
	probed uint64
}

// historyRow is one row of historyColumns as scanned, shared by the history
// pages, the exports and the timeline.
type historyRow struct {
	m                                 schemas.Message
	id, seq, user, replyTo, replyUser uint64
	sentMS                            int64
	deleted, replyDeleted             uint8
	replyNickname, replyPreview       string
	mentions                          []uint64
}

func newHistoryRow(room schemas.ID) *historyRow {
	return &historyRow{m: schemas.Message{RoomID: room}}
}

// dest is what rows.Scan fills, in historyColumns' order.
func (r *historyRow) dest() []any {
	return []any{&r.id, &r.seq, &r.user, &r.m.Nickname, &r.m.Body, &r.m.Effects, &r.m.ClientMsgID, &r.sentMS,
		&r.deleted, &r.replyTo, &r.replyUser, &r.replyNickname, &r.replyPreview, &r.replyDeleted, &r.mentions}
}

// message is the scanned row as a Message of its own (nothing shared with
// the next row).
func (r *historyRow) message() schemas.Message {
	msg := r.m
	msg.ID, msg.Seq, msg.UserID = schemas.ID(r.id), int64(r.seq), schemas.ID(r.user)
	msg.SentAt = schemas.FormatTime(time.UnixMilli(r.sentMS))
	msg.Deleted = r.deleted != 0
	if r.replyTo != 0 {
		msg.ReplyTo = &schemas.ReplyTo{MessageID: schemas.ID(r.replyTo), UserID: schemas.ID(r.replyUser),
			Nickname: r.replyNickname, Preview: r.replyPreview, Deleted: r.replyDeleted != 0}
	}
	for _, u := range r.mentions {
		msg.Mentions = append(msg.Mentions, schemas.ID(u))
	}
	return msg
}

// readWindow reads up to limit messages of room in w, in walk order, and
// hands each to emit as it is read (the Message is reused between calls:
// emit must copy what it keeps). It returns how many it read and the id of
// the last one. If emit fails, the query is cancelled on the server rather
// than drained.
func (s *Service) readWindow(ctx context.Context, rd *windowRead, emit func(*schemas.Message) error) (n int, last schemas.ID, err error) {
	room := rd.room
	deadline, ok := ctx.Deadline()
	timeout := s.cfg.QueryTimeout
	if ok {
		timeout = time.Until(deadline)
	}
	qctx, cancel := context.WithCancel(chSettings(ctx, timeout, rd.settings))
	q, args := windowSQL(room, rd.w, rd.desc, rd.limit, rd.probe)
	rows, err := s.ch.Query(qctx, q, args...)
	if err != nil {
		cancel()
		return 0, 0, storeError(ctx, fmt.Errorf("read history of room %d: %w", room, err))
	}
	// Cancel before Close: clickhouse-go's Close reads the rest of the
	// result, which for an abandoned export could be millions of rows.
	defer func() {
		cancel()
		_ = rows.Close()
	}()
	var (
		row   = newHistoryRow(room)
		batch = make([]schemas.Message, 0, overlayBatch)
	)
	dest := row.dest()
	if rd.probe != nil {
		dest = append(dest, &rd.probed)
	}
	// Rows are emitted overlayBatch at a time, once what happened to them
	// since (message_changes, changes.go) is read: memory stays bounded
	// whatever the window's size.
	flush := func() error {
		if err := s.overlay(ctx, room, batch); err != nil {
			return err
		}
		for i := range batch {
			if err := emit(&batch[i]); err != nil {
				return err
			}
			n++
			last = batch[i].ID
		}
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, last, fmt.Errorf("read history of room %d: scan: %w", room, err)
		}
		batch = append(batch, row.message())
		if len(batch) == overlayBatch {
			if err := flush(); err != nil {
				return n, last, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, last, storeError(ctx, fmt.Errorf("read history of room %d: %w", room, err))
	}
	if err := flush(); err != nil {
		return n, last, err
	}
	return n, last, nil
}
