package command

import (
	"cmp"
	"maps"
	"slices"

	"happychat/schemas"
)

// The write side's fold of the level-5 events: the blocks of a pair, kept
// in the room of the pair's direct messages, and the open reports of a
// room's messages. Both are bounded by what is live (a pair's two blocks at
// most; reports until an admin resolves them), never by history.

// openReport is one report.filed not yet resolved.
type openReport struct {
	message  schemas.ID
	reporter schemas.ID
}

// applyBlocksReports folds block.added, block.removed, report.filed and
// report.resolved into r, in place (r's maps are r's own: see next).
func (r *room) applyBlocksReports(env schemas.Envelope) {
	switch p := env.Payload.(type) {
	case schemas.BlockAdded:
		if !slices.Contains(r.blockers, env.UserID) {
			r.blockers = append(r.blockers, env.UserID)
		}
	case schemas.BlockRemoved:
		r.blockers = slices.DeleteFunc(r.blockers, func(u schemas.ID) bool { return u == env.UserID })
	case schemas.ReportFiled:
		if r.reports == nil {
			r.reports = map[schemas.ID]openReport{}
		}
		r.reports[env.ID] = openReport{message: p.MessageID, reporter: env.UserID}
	case schemas.ReportResolved:
		delete(r.reports, p.ReportID)
	}
}

// cloneBlocksReports gives c copies of the collections a level-5 event
// changes.
func (c *room) cloneBlocksReports() {
	c.blockers = slices.Clone(c.blockers)
	c.reports = maps.Clone(c.reports)
}

// blockedPair reports whether either user of the pair room r blocked the
// other.
func (r *room) blockedPair() bool { return r != nil && len(r.blockers) > 0 }

// openReportOf returns the open report of message by reporter, if any.
func (r *room) openReportOf(message, reporter schemas.ID) (schemas.ID, bool) {
	for id, rep := range r.reports {
		if rep.message == message && rep.reporter == reporter {
			return id, true
		}
	}
	return 0, false
}

// reportsOf returns the ids of the open reports of message, in id order.
func (r *room) reportsOf(message schemas.ID) []schemas.ID {
	var ids []schemas.ID
	for id, rep := range r.reports {
		if rep.message == message {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// snapModeration is the level-5 part of a room in a snapshot.
type snapModeration struct {
	Blockers []schemas.ID     `json:"blockers,omitzero"`
	Reports  []snapOpenReport `json:"reports,omitzero"`
}

type snapOpenReport struct {
	ID       schemas.ID `json:"id"`
	Message  schemas.ID `json:"message"`
	Reporter schemas.ID `json:"reporter"`
}

// snapMod captures r's blocks and open reports (nil when it has none).
func (r *room) snapMod() *snapModeration {
	if len(r.blockers) == 0 && len(r.reports) == 0 {
		return nil
	}
	m := &snapModeration{Blockers: slices.Clone(r.blockers)}
	for id, rep := range r.reports {
		m.Reports = append(m.Reports, snapOpenReport{ID: id, Message: rep.message, Reporter: rep.reporter})
	}
	slices.SortFunc(m.Reports, func(a, b snapOpenReport) int { return cmp.Compare(a.ID, b.ID) })
	return m
}

// installMod restores what snapMod captured.
func (r *room) installMod(m *snapModeration) {
	if m == nil {
		return
	}
	r.blockers = slices.Clone(m.Blockers)
	if len(m.Reports) > 0 {
		r.reports = make(map[schemas.ID]openReport, len(m.Reports))
	}
	for _, rep := range m.Reports {
		r.reports[rep.ID] = openReport{message: rep.Message, reporter: rep.Reporter}
	}
}
