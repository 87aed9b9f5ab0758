package projector

import "happychat/schemas"

// The level-5 part of gen: blocks in the rooms of pairs, and reports of
// messages with their resolutions.

type genMod struct {
	blocked map[[2]schemas.ID]bool      // (blocker, blocked)
	open    map[schemas.ID][]schemas.ID // message -> open report ids
}

// pairBlock toggles a's block of b, in the room of their pair.
func (g *gen) pairBlock(r, a, b schemas.ID) {
	m := &g.mod
	if m.blocked == nil {
		m.blocked = map[[2]schemas.ID]bool{}
	}
	k := [2]schemas.ID{a, b}
	if m.blocked[k] {
		delete(m.blocked, k)
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: a, Payload: schemas.BlockRemoved{Blocked: b}})
		return
	}
	m.blocked[k] = true
	g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: a, Payload: schemas.BlockAdded{Blocked: b, Nickname: g.nick[b]}})
}

// report has reporter report message msg of author in r, and sometimes an
// admin resolve every open report of it.
func (g *gen) report(r, msg, author, reporter schemas.ID) {
	m := &g.mod
	if m.open == nil {
		m.open = map[schemas.ID][]schemas.ID{}
	}
	id := g.id()
	m.open[msg] = append(m.open[msg], id)
	g.emit(g.names.Rooms, r, schemas.Envelope{ID: id, RoomID: r, UserID: reporter, Payload: schemas.ReportFiled{
		MessageID: msg, MessageSeq: 1, AuthorID: author, AuthorNickname: g.nick[author], Nickname: g.nick[reporter],
		Reason: schemas.ReportReasonSpam, Note: "스팸 같아요"}})
	if g.rng.IntN(2) == 0 {
		return
	}
	for _, rep := range m.open[msg] {
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, Payload: schemas.ReportResolved{
			ReportID: rep, MessageID: msg, Outcome: schemas.ReportOutcomeDismissed}})
	}
	delete(m.open, msg)
}
