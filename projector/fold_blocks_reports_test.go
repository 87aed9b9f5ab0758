package projector

import (
	"cmp"
	"context"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/schemas"
)

// The views oracle's part for the level-5 tables, blocks and reports,
// written from the events independently of the SQL.

type viewBlock struct {
	Blocker, Blocked int64
	Nick             string
	Event, At        int64
}

type viewReport struct {
	ID, Room, Message, Seq, Author int64
	AuthorNick                     string
	Reporter                       int64
	ReporterNick, Reason, Note     string
	FiledAt                        int64
	Status, Outcome                string
	Erased                         bool
	ResolvedAt, ResolvedBy         int64 // 0: NULL
}

// modFold is the oracle's state of the level-5 views.
type modFold struct {
	blocks  map[[2]int64]viewBlock
	reports map[int64]*viewReport
}

// apply folds one room event (already past the room's seq gate).
func (f *modFold) apply(env schemas.Envelope) {
	if f.blocks == nil {
		f.blocks, f.reports = map[[2]int64]viewBlock{}, map[int64]*viewReport{}
	}
	at := ms(env.OccurredAt)
	switch p := env.Payload.(type) {
	case schemas.BlockAdded:
		k := [2]int64{int64(env.UserID), int64(p.Blocked)}
		if _, ok := f.blocks[k]; !ok {
			f.blocks[k] = viewBlock{k[0], k[1], p.Nickname, int64(env.ID), at}
		}
	case schemas.BlockRemoved:
		delete(f.blocks, [2]int64{int64(env.UserID), int64(p.Blocked)})
	case schemas.ReportFiled:
		if _, ok := f.reports[int64(env.ID)]; !ok {
			f.reports[int64(env.ID)] = &viewReport{ID: int64(env.ID), Room: int64(env.RoomID), Message: int64(p.MessageID),
				Seq: p.MessageSeq, Author: int64(p.AuthorID), AuthorNick: p.AuthorNickname, Reporter: int64(env.UserID),
				ReporterNick: p.Nickname, Reason: p.Reason, Note: p.Note, FiledAt: at, Status: "open"}
		}
	case schemas.ReportResolved:
		if r, ok := f.reports[int64(p.ReportID)]; ok && r.Status == "open" {
			r.Status, r.Outcome, r.Erased, r.ResolvedAt, r.ResolvedBy = "resolved", p.Outcome, p.Erased, at, int64(env.UserID)
		}
	}
}

// into adds the folded rows to v.
func (f *modFold) into(v *views) {
	for _, b := range f.blocks {
		v.Blocks = append(v.Blocks, b)
	}
	for _, r := range f.reports {
		v.Reports = append(v.Reports, *r)
	}
}

func sortBlocksReports(v *views) {
	slices.SortFunc(v.Blocks, func(a, b viewBlock) int {
		return cmp.Or(cmp.Compare(a.Blocker, b.Blocker), cmp.Compare(a.Blocked, b.Blocked))
	})
	slices.SortFunc(v.Reports, func(a, b viewReport) int { return cmp.Compare(a.ID, b.ID) })
}

func readBlocksReports(ctx context.Context, pool *pgxpool.Pool, v *views) error {
	var err error
	if v.Blocks, err = queryAll(ctx, pool, `SELECT blocker, blocked, nickname, event_id, (extract(epoch FROM blocked_at)*1000)::bigint FROM blocks`,
		func(b *viewBlock) []any { return []any{&b.Blocker, &b.Blocked, &b.Nick, &b.Event, &b.At} }); err != nil {
		return err
	}
	v.Reports, err = queryAll(ctx, pool, `SELECT report_id, room_id, message_id, message_seq, author_id, author_nickname,
		reporter_id, reporter_nickname, reason, note, (extract(epoch FROM filed_at)*1000)::bigint, status, COALESCE(outcome, ''),
		erased, COALESCE((extract(epoch FROM resolved_at)*1000)::bigint, 0), COALESCE(resolved_by, 0) FROM reports`,
		func(r *viewReport) []any {
			return []any{&r.ID, &r.Room, &r.Message, &r.Seq, &r.Author, &r.AuthorNick, &r.Reporter, &r.ReporterNick, &r.Reason,
				&r.Note, &r.FiledAt, &r.Status, &r.Outcome, &r.Erased, &r.ResolvedAt, &r.ResolvedBy}
		})
	return err
}
