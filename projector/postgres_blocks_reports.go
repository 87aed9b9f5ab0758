package projector

import "happychat/schemas"

// The PostgreSQL views of the level-5 events: the blockers' lists and the
// admins' report queue (migrations/postgres/0006_blocks_reports.sql). Each is
// queued after the batch saved the room rows; the room's seq gate has
// dropped duplicates already, so the statements only need to be safe to
// run again over a replayed batch.
const (
	pgAddBlock = `INSERT INTO blocks (blocker, blocked, nickname, event_id, blocked_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (blocker, blocked) DO NOTHING`
	pgRemoveBlock = `DELETE FROM blocks WHERE blocker = $1 AND blocked = $2`
	pgFileReport  = `INSERT INTO reports (report_id, room_id, message_id, message_seq, author_id, author_nickname,
    reporter_id, reporter_nickname, reason, note, filed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (report_id) DO NOTHING`
	pgResolveReport = `UPDATE reports SET status = 'resolved', outcome = $2, erased = $3, resolved_at = $4, resolved_by = $5
WHERE report_id = $1 AND status = 'open'`
)

// blocksReports queues the view changes of a block or report event.
func (b *pgBatch) blocksReports(env schemas.Envelope) {
	switch p := env.Payload.(type) {
	case schemas.BlockAdded:
		b.later.Queue(pgAddBlock, int64(env.UserID), int64(p.Blocked), p.Nickname, int64(env.ID), env.OccurredAt)
	case schemas.BlockRemoved:
		b.later.Queue(pgRemoveBlock, int64(env.UserID), int64(p.Blocked))
	case schemas.ReportFiled:
		b.later.Queue(pgFileReport, int64(env.ID), int64(env.RoomID), int64(p.MessageID), p.MessageSeq, int64(p.AuthorID),
			p.AuthorNickname, int64(env.UserID), p.Nickname, p.Reason, p.Note, env.OccurredAt)
	case schemas.ReportResolved:
		var by *int64
		if env.UserID > 0 {
			u := int64(env.UserID)
			by = &u
		}
		b.later.Queue(pgResolveReport, int64(p.ReportID), p.Outcome, p.Erased, env.OccurredAt, by)
	}
}
