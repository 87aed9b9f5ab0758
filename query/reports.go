package query

import (
	"context"
	"fmt"
	"strings"
	"time"

	"happychat/schemas"
)

// The admins' report queue (GET /v1/admin/reports): the reports view
// (PostgreSQL, projected from report.filed and report.resolved) with a
// preview of each reported message from the history (ClickHouse). A
// message under an open report keeps its text in the history through its
// author's delete (the hold, docs/adr/0009), so the queue still shows it;
// once the report is resolved and the message erased, no store has it.

// Report is one report in the queue.
type Report struct {
	ID               schemas.ID `json:"id"`
	RoomID           schemas.ID `json:"room_id"`
	MessageID        schemas.ID `json:"message_id"`
	MessageSeq       int64      `json:"message_seq"`
	AuthorID         schemas.ID `json:"author_id"`
	AuthorNickname   string     `json:"author_nickname"`
	Text             *string    `json:"text"` // null once unreadable (erased)
	MessageDeleted   bool       `json:"message_deleted"`
	ReporterID       schemas.ID `json:"reporter_id"`
	ReporterNickname string     `json:"reporter_nickname"`
	Reason           string     `json:"reason"`
	Note             string     `json:"note"`
	FiledAt          string     `json:"filed_at"`
	Status           string     `json:"status"`
	Outcome          *string    `json:"outcome"`
	ResolvedAt       *string    `json:"resolved_at"`
}

// ReportsQuery asks for one page of the queue, newest first.
type ReportsQuery struct {
	Status string // open, resolved or all
	Before schemas.ID
	Limit  int
}

// Report statuses a query filters by.
const (
	ReportsOpen     = "open"
	ReportsResolved = "resolved"
	ReportsAll      = "all"
)

const sqlReports = `SELECT report_id, room_id, message_id, message_seq, author_id, author_nickname, reporter_id,
	reporter_nickname, reason, note, filed_at, status, outcome, resolved_at
	FROM reports WHERE ($1 = 'all' OR status = $1) AND report_id < $2
	ORDER BY report_id DESC LIMIT $3`

// Reports reads one page of the queue: admins only.
func (s *Service) Reports(ctx context.Context, c Caller, q ReportsQuery) ([]Report, schemas.ID, error) {
	if !c.Admin {
		if c.UserID == 0 {
			return nil, 0, schemas.Errorf(schemas.CodeUnauthorized, "the report queue needs the admin token")
		}
		return nil, 0, schemas.Errorf(schemas.CodeForbidden, "the report queue is for admins")
	}
	before := int64(1<<63 - 1)
	if q.Before != 0 {
		before = int64(q.Before)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlReports, q.Status, before, q.Limit+1)
	if err != nil {
		return nil, 0, storeError(ctx, fmt.Errorf("reports: %w", err))
	}
	out := []Report{}
	for rows.Next() {
		var (
			r                               Report
			id, room, msg, author, reporter int64
			filed                           time.Time
			outcome                         *string
			resolved                        *time.Time
		)
		if err := rows.Scan(&id, &room, &msg, &r.MessageSeq, &author, &r.AuthorNickname, &reporter, &r.ReporterNickname,
			&r.Reason, &r.Note, &filed, &r.Status, &outcome, &resolved); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("reports: scan: %w", err)
		}
		r.ID, r.RoomID, r.MessageID, r.AuthorID, r.ReporterID = schemas.ID(id), schemas.ID(room), schemas.ID(msg), schemas.ID(author), schemas.ID(reporter)
		r.FiledAt, r.Outcome = schemas.FormatTime(filed), outcome
		if resolved != nil {
			at := schemas.FormatTime(*resolved)
			r.ResolvedAt = &at
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, storeError(ctx, fmt.Errorf("reports: %w", err))
	}
	var next schemas.ID
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[q.Limit-1].ID
	}
	if err := s.reportTexts(ctx, out); err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

// reportTexts fills in the reported messages' latest texts (as written,
// not softened: moderators judge what was sent) and whether they are
// deleted, from the history without FINAL: a held message's original row
// stays beside its tombstone until the hold ends.
func (s *Service) reportTexts(ctx context.Context, rs []Report) error {
	if len(rs) == 0 {
		return nil
	}
	rooms, ids := make([]any, 0, len(rs)), make([]any, 0, len(rs))
	for _, r := range rs {
		rooms, ids = append(rooms, uint64(r.RoomID)), append(ids, uint64(r.MessageID))
	}
	in := func(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
	cctx := chSettings(ctx, s.cfg.QueryTimeout, nil)
	texts, deleted := map[uint64]string{}, map[uint64]bool{}
	read := func(sql string, each func(id uint64, flag uint8, text string)) error {
		rows, err := s.ch.Query(cctx, sql, append(append([]any{}, rooms...), ids...)...)
		if err != nil {
			return storeError(ctx, fmt.Errorf("reported messages: %w", err))
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id   uint64
				flag uint8
				text string
			)
			if err := rows.Scan(&id, &flag, &text); err != nil {
				return fmt.Errorf("reported messages: scan: %w", err)
			}
			each(id, flag, text)
		}
		return storeError(ctx, rows.Err())
	}
	if err := read(`SELECT id, deleted, text FROM messages WHERE room_id IN (`+in(len(rs))+`) AND id IN (`+in(len(rs))+`)`,
		func(id uint64, del uint8, text string) {
			if del != 0 {
				deleted[id] = true
			} else if _, ok := texts[id]; !ok {
				texts[id] = text
			}
		}); err != nil {
		return err
	}
	if err := read(`SELECT id, 0, text FROM message_changes WHERE room_id IN (`+in(len(rs))+`) AND id IN (`+in(len(rs))+`)
		AND kind = 'edited' ORDER BY id, seq DESC LIMIT 1 BY id`,
		func(id uint64, _ uint8, text string) {
			if _, ok := texts[id]; ok {
				texts[id] = text
			}
		}); err != nil {
		return err
	}
	for i := range rs {
		id := uint64(rs[i].MessageID)
		rs[i].MessageDeleted = deleted[id]
		if t, ok := texts[id]; ok {
			rs[i].Text = &t
		}
	}
	return nil
}
