package query

import (
	"math"
	"time"

	"happychat/schemas"
)

// Why windows: ClickHouse 18.16 cannot read a table in its sort order, so
// "WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT 50" reads and sorts
// every row of the room below the cursor — two million rows for the newest
// page of a big room. The primary key (room_id, id) does let it skip every
// granule outside an id range, and snowflake ids grow with time, so the reads
// below ask for the rows of a bounded id window [lo, hi) next to the cursor,
// sized to hold about the rows wanted — exactly, from the room's index of
// message ids in PostgreSQL when it has them (seek.go), else from the room's
// average message rate — and move to the adjacent, wider window while the
// rows run short. The windows tile the id space next to the cursor without
// gaps or overlaps, and the last one is open-ended, so the rows returned are
// exactly those a plain keyset query would return: the windows change the
// cost, never the answer.

// idTimeShift is how far the millisecond sits left in a snowflake id (above
// the 10 node bits and 12 step bits).
const idTimeShift = 22

const (
	minSpanMS     = int64(time.Second / time.Millisecond)
	defaultSpanMS = int64(time.Hour / time.Millisecond)
	maxSpanMS     = int64(20 * 366 * 24 * time.Hour / time.Millisecond)
	// emptyGrowth widens the window after an empty one: a sparse stretch
	// of history is crossed in a few queries.
	emptyGrowth = 8
)

// idWindow is the id range [lo, hi); a zero bound is open.
type idWindow struct{ lo, hi schemas.ID }

// spanFor estimates the milliseconds of snowflake time that hold about k
// messages of r at its average rate (twice that, so that one window usually
// suffices), within [minSpanMS, maxSpanMS]. A room without messages in the
// PostgreSQL view gets the widest span: whatever the history holds is what
// the view lags behind, little, and is best read in one window.
func spanFor(k int, r roomRow) int64 {
	ms := defaultSpanMS
	if r.MessageCount == 0 {
		return maxSpanMS
	}
	if r.MessageCount >= 2 && r.LastMessageAt != nil {
		if life := r.LastMessageAt.Sub(r.CreatedAt).Milliseconds(); life > 0 {
			ms = 2 * int64(k) * (life/r.MessageCount + 1)
		}
	}
	return min(max(ms, minSpanMS), maxSpanMS)
}

// scan walks the id space away from a cursor, one window at a time.
//
// Descending (newest first), the next window is [anchor-span, hi): hi is the
// exclusive cursor (open when the walk starts at the newest end) and anchor
// is where the span is measured from (the cursor, or a hint of the newest id
// when hi is open). Ascending, it is [lo, lo+span), open above ceiling.
type scan struct {
	desc    bool
	lo, hi  schemas.ID // the cursor side of the next window (see above)
	anchor  schemas.ID // desc only
	ceiling schemas.ID // asc only: beyond it the window is left open
	span    int64      // in id units
	done    bool
	// first, if set, is read before the regular walk (see withFirstBelow).
	first *idWindow
}

// newDescScan walks down from before (exclusive; 0 = from the newest end).
// anchor is a hint of where the newest messages are: the first window's span
// is measured from the lower of the two, and the window stays open up to
// before, so a cursor far above the newest message costs nothing extra.
func newDescScan(before, anchor schemas.ID, spanMS int64) *scan {
	if before != 0 && (anchor == 0 || anchor > before) {
		anchor = before
	}
	return &scan{desc: true, hi: before, anchor: anchor, span: spanMS << idTimeShift}
}

// newAscScan walks up from after (exclusive). Windows reaching past ceiling
// (an id from the near future) are left open above.
func newAscScan(after, ceiling schemas.ID, spanMS int64) *scan {
	// Nothing follows the largest id (and after+1 would overflow).
	return &scan{lo: after + 1, ceiling: ceiling, span: spanMS << idTimeShift, done: after == math.MaxInt64}
}

// withFirstBelow makes an ascending walk from the start of the id space
// read [lo, start+span) first and then walk on from there, so that a room's
// export does not step through the years before the room existed: an id
// range without rows costs ClickHouse nothing to skip, a query each costs a
// round trip.
func (s *scan) withFirstBelow(start schemas.ID) *scan {
	w := s.window()
	if w.hi != 0 && start > 0 && start < math.MaxInt64-schemas.ID(s.span) && start+schemas.ID(s.span) > w.hi {
		w.hi = start + schemas.ID(s.span)
		if w.hi >= s.ceiling {
			w.hi = 0
		}
		s.first = &w
	}
	return s
}

// window is the next id range to read.
func (s *scan) window() idWindow {
	if s.first != nil {
		return *s.first
	}
	if s.desc {
		lo := s.anchor - schemas.ID(s.span)
		if lo <= 0 || s.anchor <= 0 {
			lo = 0
		}
		return idWindow{lo: lo, hi: s.hi}
	}
	hi := s.lo + schemas.ID(s.span)
	if hi < s.lo || hi >= s.ceiling { // overflow or past the ceiling
		hi = 0
	}
	return idWindow{lo: s.lo, hi: hi}
}

// advance records that the read of w asked for want rows and got got, the
// last of which (in walk order) had id last. A full read may have left rows
// in w, so the walk resumes after last with a narrower span; a short read
// exhausted w, so the walk moves to the adjacent window, wider if w was
// sparse, or ends if w was open.
func (s *scan) advance(w idWindow, want, got int, last schemas.ID) {
	if s.first != nil {
		// The first window's width says nothing about the room's rate:
		// resume the walk at its end (or after its last row) with the
		// estimated span.
		s.first = nil
		switch {
		case got >= want && got > 0:
			s.lo = last + 1
		case w.hi == 0:
			s.done = true
		default:
			s.lo = w.hi
		}
		return
	}
	if got >= want && got > 0 {
		if s.desc {
			s.hi, s.anchor = last, last
		} else {
			s.lo = last + 1
		}
		s.span = max(s.span/2, minSpanMS<<idTimeShift)
		return
	}
	open := w.hi == 0
	if s.desc {
		open = w.lo == 0
	}
	if open {
		s.done = true
		return
	}
	if s.desc {
		s.hi, s.anchor = w.lo, w.lo
	} else {
		s.lo = w.hi
	}
	switch {
	case got == 0:
		s.span = grow(s.span, emptyGrowth)
	case got < want/2:
		s.span = grow(s.span, 2)
	}
}

func grow(span, by int64) int64 {
	const limit = maxSpanMS << idTimeShift
	if span > limit/by {
		return limit
	}
	return span * by
}

// idCeiling is the id above which an ascending walk leaves its window open:
// ids are minted from clocks, so none can be far in the future.
func idCeiling(now time.Time) schemas.ID { return schemas.IDAt(now.Add(time.Hour)) }

// readFunc reads up to limit rows of window w in walk order and reports how
// many it read and the id of the last one.
type readFunc func(w idWindow, limit int) (got int, last schemas.ID, err error)

// seekFunc asks an index of the room's message ids (the PostgreSQL view's
// room_messages) for the ids of the next k messages from cursor in walk
// order — descending, below cursor (exclusive; 0 = from the newest end);
// ascending, at or above cursor — and returns how many it has (n ≤ k) and
// the farthest of them. The index only sizes windows: it may lag the
// history or run ahead of it without changing what a walk returns.
type seekFunc func(cursor schemas.ID, desc bool, k int) (edge schemas.ID, n int, err error)

// cursor is where the next window starts: desc, hi (exclusive, 0 = open);
// asc, lo (inclusive).
func (s *scan) cursor() schemas.ID {
	if s.desc {
		return s.hi
	}
	return s.lo
}

// windowTo is the window from the cursor to edge (inclusive), or false if
// edge does not lie beyond the cursor.
func (s *scan) windowTo(edge schemas.ID) (idWindow, bool) {
	if s.desc {
		if edge <= 0 || (s.hi != 0 && edge >= s.hi) {
			return idWindow{}, false
		}
		return idWindow{lo: edge, hi: s.hi}, true
	}
	if edge < s.lo || edge == math.MaxInt64 {
		return idWindow{}, false
	}
	return idWindow{lo: s.lo, hi: edge + 1}, true
}

// openWindow is everything beyond the cursor.
func (s *scan) openWindow() idWindow {
	if s.desc {
		return idWindow{lo: 0, hi: s.hi}
	}
	return idWindow{lo: s.lo, hi: 0}
}

// walk reads windows of sc until it is done or total rows were read
// (total < 0: no cap), asking each read for at most chunk rows. It returns
// the rows read. With seek, each window reaches exactly as far as the index
// says the rows asked for lie, or is open when the index says fewer remain
// (or none, after it knew of rows before the cursor: what the history has
// beyond the index is the little its projector is behind). Where the index
// knows nothing at all (an empty room, or an index being rebuilt), windows
// are the scan's own estimate. Once a
// window sized by the index comes back short, the index runs ahead of the
// history here (its projector is ahead), and the rest of the walk sizes
// windows by the estimate alone: stepping through ids the history does not
// have yet, one index window at a time, could take a query per id.
func walk(sc *scan, chunk, total int, seek seekFunc, read readFunc) (int, error) {
	n, indexed := 0, false
	for !sc.done && (total < 0 || n < total) {
		ask := chunk
		if total >= 0 {
			ask = min(ask, total-n)
		}
		w, sized := sc.window(), false
		if seek != nil {
			edge, have, err := seek(sc.cursor(), sc.desc, ask)
			if err != nil {
				return n, err
			}
			switch {
			case have >= ask:
				if sw, ok := sc.windowTo(edge); ok {
					w, sized = sw, true
					sc.first = nil
				}
			case have > 0 || indexed:
				w, sized = sc.openWindow(), true
				sc.first = nil
			}
			indexed = indexed || have > 0
		}
		got, last, err := read(w, ask)
		n += got
		if err != nil {
			return n, err
		}
		if sized && got < ask {
			seek = nil
		}
		sc.advance(w, ask, got, last)
	}
	return n, nil
}
