package query

import (
	"context"
	"errors"
	"time"

	"happychat/schemas"
)

// HistoryQuery asks for one page of a room's history. At most one of Before
// and After is set: Before (or neither) pages backward, newest first; After
// pages forward, oldest first. Both bounds are exclusive.
type HistoryQuery struct {
	Before, After schemas.ID
	Limit         int
}

// Page limits of the contract.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// HistoryPage is one page of history. Next is the cursor of the following
// page in the same direction (next_before or next_after), zero when no
// message lies beyond this page at the time of the read.
type HistoryPage struct {
	Messages     []schemas.Message
	Forward      bool
	Next         schemas.ID
	ProjectedSeq int64
}

// Messages reads one keyset page of a room's history. It asks for one
// message more than the limit to tell whether a next page exists, so a
// cursor is only handed out when it leads somewhere.
func (s *Service) Messages(ctx context.Context, c Caller, room schemas.ID, q HistoryQuery) (HistoryPage, error) {
	r, err := s.loadRoom(ctx, c, room)
	if err != nil {
		return HistoryPage{}, err
	}
	page, err := s.readPage(ctx, r, q, true)
	if errors.Is(err, errProbeMissed) {
		page, err = s.readPage(ctx, r, q, false)
	}
	if err != nil {
		return page, err
	}
	blocked, err := s.blockedBy(ctx, c)
	page.Messages = hideBlocked(page.Messages, blocked) // blocks.go
	return page, err
}

// errProbeMissed: the seq probe found no event next to the PostgreSQL
// view's hints (the history lags them); the page is read again after the
// seq, the slow way.
var errProbeMissed = errors.New("projected seq probe missed")

// readPage reads a page and the room's projected seq, the seq first: the
// page then reflects at least everything the header promises. With probe,
// the seq comes with the first window's rows in one query (ClickHouse
// evaluates the scalar subquery before it reads the rows); otherwise, and
// when the first window is empty, it is read before the next window.
func (s *Service) readPage(ctx context.Context, r roomRow, q HistoryQuery, probe bool) (HistoryPage, error) {
	var (
		seq   int64
		known bool
		first *seqProbe
	)
	if probe {
		first = probeFor(r)
	}
	if first == nil {
		var err error
		if seq, err = s.projectedSeq(ctx, r); err != nil {
			return HistoryPage{}, err
		}
		known = true
	}
	want := q.Limit + 1
	sc := historyScan(q, want, r, s.cfg.Now())
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	msgs := make([]schemas.Message, 0, want)
	keep := func(m *schemas.Message) error {
		msgs = append(msgs, *m)
		return nil
	}
	read := func(w idWindow, limit int) (int, schemas.ID, error) {
		rd := &windowRead{room: r.ID, w: w, desc: sc.desc, limit: limit}
		switch {
		case known:
		case first != nil:
			rd.probe, first = first, nil
		default: // the probing window was empty
			var err error
			if seq, err = s.projectedSeq(ctx, r); err != nil {
				return 0, 0, err
			}
			known = true
		}
		got, last, err := s.readWindow(ctx, rd, keep)
		if err != nil || rd.probe == nil || got == 0 {
			return got, last, err
		}
		if rd.probed == 0 {
			return got, last, errProbeMissed
		}
		seq, known = int64(rd.probed), true
		return got, last, nil
	}
	if _, err := walk(sc, want, want, s.seeker(ctx, r.ID), read); err != nil {
		return HistoryPage{}, err
	}
	if !known { // no message at all: nothing was read before the seq
		var err error
		if seq, err = s.projectedSeq(ctx, r); err != nil {
			return HistoryPage{}, err
		}
	}
	page := HistoryPage{Messages: msgs, Forward: q.After != 0, ProjectedSeq: seq}
	if len(msgs) > q.Limit {
		page.Messages = msgs[:q.Limit]
		page.Next = msgs[q.Limit-1].ID
	}
	return page, nil
}

// historyScan plans the walk of a page that needs want messages.
func historyScan(q HistoryQuery, want int, r roomRow, now time.Time) *scan {
	if q.After != 0 {
		// A cursor before the room's first message: start at the room.
		return newAscScan(q.After, idCeiling(now), spanFor(want, r)).withFirstBelow(schemas.IDAt(r.CreatedAt))
	}
	// The PostgreSQL view's newest message id says where the newest
	// messages are; a cursor beyond it (or none) measures the first window
	// from there, which stays open up to the cursor, so anything newer in
	// the history is read as well.
	hint := schemas.IDAt(now)
	if r.LastMessageID != nil {
		hint = schemas.ID(*r.LastMessageID) + 1
	}
	if q.Before != 0 && q.Before < hint {
		hint = q.Before
	}
	return newDescScan(q.Before, hint, spanFor(want, r))
}
