package command

import (
	"context"
	"strings"

	"happychat/schemas"
)

// Report files the caller's report of a message of room: a member reports
// another member's message, with a reason of schemas.ReportReasons and an
// optional note. Reporting the same message again while the report is open
// answers the open report. From the report's commit, the message's keys
// are held: its author's delete tombstones it everywhere but leaves its
// text readable to the admins' queue until the report is resolved
// (docs/adr/0009, "Holds").
func (s *Service) Report(ctx context.Context, c Caller, room, message schemas.ID, reason, note string) (schemas.ID, bool, error) {
	if err := c.needUser(); err != nil {
		return 0, false, err
	}
	if !schemas.ValidReportReason(reason) {
		return 0, false, badRequest("reason must be one of " + strings.Join(schemas.ReportReasons, ", "))
	}
	note, err := cleanText("note", note, 0, schemas.MaxReportNote)
	if err != nil {
		return 0, false, err
	}
	if err := allow(s.limits.send, c.UserID, slowDown); err != nil {
		return 0, false, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindReport, RoomID: room, UserID: c.UserID, Credential: c.Token,
		MessageID: message, Reason: reason, Body: strings.TrimSpace(note)})
	if err != nil {
		return 0, false, err
	}
	return res.Report, res.Created, nil
}

func decideReport(r *room, cmd Command, dp deps) (decision, error) {
	m, err := commandMessage(r, cmd, dp)
	if err != nil {
		return decision{}, err
	}
	me, ok := r.current(cmd.UserID, dp)
	if !ok {
		return decision{}, forbidden("only members of the room may report its messages")
	}
	if m.deleted {
		return decision{}, notFound("the message was deleted")
	}
	if m.author == cmd.UserID {
		return decision{}, badRequest("message_id: you cannot report your own message")
	}
	if id, open := r.openReportOf(m.id, cmd.UserID); open {
		return decision{result: Result{Report: id}}, nil
	}
	var d decision
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.ReportFiled{MessageID: m.id, MessageSeq: m.seq, AuthorID: m.author, AuthorNickname: m.nickname,
			Nickname: me.nickname, Reason: cmd.Reason, Note: cmd.Body}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Report, d.result.Created = d.events[0].ID, true
	return d, nil
}
