package command

import (
	"context"

	"happychat/schemas"
)

// ResolveReport is an admin's verdict on a report: dismissed (the message
// stays) or deleted (the message is deleted through the normal delete, by
// the admin). It resolves every open report of the same message: the
// review is of the message. The hold ends with it; a deleted message's
// keys are destroyed in the same commit (report.resolved says erased).
// A report already resolved, or unknown, is 404.
func (s *Service) ResolveReport(ctx context.Context, c Caller, report schemas.ID, outcome string) error {
	if !c.Admin {
		return forbidden("only an admin may resolve reports")
	}
	if outcome != schemas.ReportOutcomeDismissed && outcome != schemas.ReportOutcomeDeleted {
		return badRequest(`outcome must be "dismissed" or "deleted"`)
	}
	if report <= 0 {
		return badRequest("report id must be a decimal id")
	}
	room, ok := s.reportRoom(report)
	if !ok {
		return notFound("no open report with this id")
	}
	_, err := s.Execute(ctx, Command{Kind: KindResolveReport, RoomID: room, UserID: c.UserID, Admin: true,
		Credential: c.Token, MessageID: report, Reason: outcome})
	return err
}

// reportRoom finds the room of an open report in the fold. A report id is
// minted by its room's owner with node id = the room's partition
// (schemas/snowflake.go), so one partition is searched.
func (s *Service) reportRoom(report schemas.ID) (schemas.ID, bool) {
	select {
	case <-s.running:
	default:
		return 0, false
	}
	_, node, _ := schemas.SplitID(report)
	if node < 0 || int(node) >= len(s.fold.parts) {
		return 0, false
	}
	ps := s.fold.parts[node]
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	for id, r := range ps.rooms {
		if _, ok := r.reports[report]; ok {
			return id, true
		}
	}
	return 0, false
}

// decideResolveReport: cmd.MessageID is the report, cmd.Reason the outcome.
func decideResolveReport(r *room, cmd Command, dp deps) (decision, error) {
	if !cmd.Admin {
		return decision{}, forbidden("only an admin may resolve reports")
	}
	if r == nil {
		return decision{}, notFound("no open report with this id")
	}
	rep, ok := r.reports[cmd.MessageID]
	if !ok {
		return decision{}, notFound("no open report with this id")
	}
	m, err := findMessage(r, rep.message, dp, "")
	if err != nil {
		return decision{}, err
	}
	d := decision{result: Result{Done: true}}
	if cmd.Reason == schemas.ReportOutcomeDeleted && !m.deleted {
		env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
			Payload: schemas.MessageDeleted{MessageID: m.id, AuthorID: m.author, Nickname: m.nickname, MessageSeq: m.seq,
				SentAt: schemas.FormatTime(m.at), ByAdmin: true}}
		if err := d.stamp(r, dp, env); err != nil {
			return decision{}, err
		}
		m = m.next(d.events[0])
		dp.recordMsg(m)
	}
	for _, id := range r.reportsOf(m.id) {
		env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
			Payload: schemas.ReportResolved{ReportID: id, MessageID: m.id, Outcome: cmd.Reason, Erased: m.deleted}}
		if err := d.stamp(r, dp, env); err != nil {
			return decision{}, err
		}
	}
	return d, nil
}
