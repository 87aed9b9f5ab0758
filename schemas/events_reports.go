package schemas

import (
	"fmt"
	"unicode/utf8"
)

// Feature level 5: blocks and reports (issue 20, moderation).
const (
	TypeBlockAdded     = "block.added"
	TypeBlockRemoved   = "block.removed"
	TypeReportFiled    = "report.filed"
	TypeReportResolved = "report.resolved"
)

// BlockAdded (rooms topic, feature level 5): UserID blocked Blocked. It
// lives in the room of the pair's direct messages (RoomID is
// DirectRoomID(UserID, Blocked)): that room's single owner decides the
// block, the direct messages' creation and their sends one after the other,
// so no message of a blocked pair slips past a block (docs/events.md).
// Nickname is the blocked user's at the time, for the blocker's list.
type BlockAdded struct {
	Blocked  ID     `json:"blocked"`
	Nickname string `json:"nickname"`
}

// BlockRemoved (rooms topic, feature level 5): UserID unblocked Blocked;
// same room as the block.
type BlockRemoved struct {
	Blocked ID `json:"blocked"`
}

// Report reasons: a small closed set, so the queue can be sorted and
// counted; the note says the rest.
const (
	ReportReasonSpam       = "spam"
	ReportReasonHarassment = "harassment"
	ReportReasonHate       = "hate"
	ReportReasonSexual     = "sexual"
	ReportReasonViolence   = "violence"
	ReportReasonOther      = "other"
)

// ReportReasons lists the reasons in the order clients show them.
var ReportReasons = []string{ReportReasonSpam, ReportReasonHarassment, ReportReasonHate,
	ReportReasonSexual, ReportReasonViolence, ReportReasonOther}

// Report outcomes.
const (
	ReportOutcomeDismissed = "dismissed"
	ReportOutcomeDeleted   = "deleted"
)

// MaxReportNote bounds a report's note, in code points.
const MaxReportNote = 500

// ReportFiled (rooms topic, feature level 5): UserID, a member of the room
// (Nickname), reported MessageID (written by AuthorID as AuthorNickname, at
// MessageSeq). The event id is the report's id. The message's keys are held
// from this event's commit until the report is resolved (docs/adr/0009).
type ReportFiled struct {
	MessageID      ID     `json:"message_id"`
	MessageSeq     int64  `json:"message_seq"`
	AuthorID       ID     `json:"author_id"`
	AuthorNickname string `json:"author_nickname"`
	Nickname       string `json:"nickname"`
	Reason         string `json:"reason"`
	Note           string `json:"note,omitzero"`
}

// ReportResolved (rooms topic, feature level 5): an admin resolved the
// report ReportID about MessageID with Outcome. Erased says the message
// was deleted (before or by this resolution) and its keys were destroyed
// with this event's commit: the end of the hold, when its text leaves
// every store (docs/adr/0009).
type ReportResolved struct {
	ReportID  ID     `json:"report_id"`
	MessageID ID     `json:"message_id"`
	Outcome   string `json:"outcome"`
	Erased    bool   `json:"erased,omitzero"`
}

func (BlockAdded) EventType() string     { return TypeBlockAdded }
func (BlockRemoved) EventType() string   { return TypeBlockRemoved }
func (ReportFiled) EventType() string    { return TypeReportFiled }
func (ReportResolved) EventType() string { return TypeReportResolved }

// ValidReportReason reports whether r is one of ReportReasons.
func ValidReportReason(r string) bool {
	for _, x := range ReportReasons {
		if x == r {
			return true
		}
	}
	return false
}

func defineLevel5Reports(r *Registry) {
	Define[BlockAdded](r, 1, ScopeRoom, func(e Envelope) error {
		p := e.Payload.(BlockAdded)
		if err := checkPairRoom(e, p.Blocked); err != nil {
			return err
		}
		return nonEmpty("nickname", p.Nickname)
	}, AtLevel(5))
	Define[BlockRemoved](r, 1, ScopeRoom, func(e Envelope) error {
		return checkPairRoom(e, e.Payload.(BlockRemoved).Blocked)
	}, AtLevel(5))
	Define[ReportFiled](r, 1, ScopeRoom, checkReportFiled, AtLevel(5))
	Define[ReportResolved](r, 1, ScopeRoom, func(e Envelope) error {
		p := e.Payload.(ReportResolved)
		if p.ReportID <= 0 || p.MessageID <= 0 {
			return fmt.Errorf("%w: report_id and message_id are required", errBadField)
		}
		if p.Outcome != ReportOutcomeDismissed && p.Outcome != ReportOutcomeDeleted {
			return fmt.Errorf("%w: outcome %q", errBadField, p.Outcome)
		}
		return nil
	}, AtLevel(5))
}

// checkPairRoom checks a block's users and room: two different users, in
// the room of their pair.
func checkPairRoom(e Envelope, blocked ID) error {
	if err := needUser(e); err != nil {
		return err
	}
	if blocked <= 0 || blocked == e.UserID {
		return fmt.Errorf("%w: a block needs another user than its author", errBadField)
	}
	if e.RoomID != DirectRoomID(e.UserID, blocked) {
		return fmt.Errorf("%w: a block lives in the room DirectRoomID of its pair", errBadField)
	}
	return nil
}

func checkReportFiled(e Envelope) error {
	if err := needUser(e); err != nil {
		return err
	}
	p := e.Payload.(ReportFiled)
	if p.MessageID <= 0 || p.AuthorID <= 0 || p.MessageSeq < 1 {
		return fmt.Errorf("%w: message_id, message_seq and author_id are required", errBadField)
	}
	if !ValidReportReason(p.Reason) {
		return fmt.Errorf("%w: reason %q", errBadField, p.Reason)
	}
	if utf8.RuneCountInString(p.Note) > MaxReportNote || !utf8.ValidString(p.Note) {
		return fmt.Errorf("%w: note is longer than %d characters", errBadField, MaxReportNote)
	}
	if err := nonEmpty("author_nickname", p.AuthorNickname); err != nil {
		return err
	}
	return nonEmpty("nickname", p.Nickname)
}
