package query

import (
	"context"
	"fmt"

	"happychat/schemas"
)

// Read-your-writes help. A history response carries the highest seq of the
// room that the ClickHouse history has projected (header X-Projected-Seq):
// a client that sent a message with seq 41 and reads a page saying 39 knows
// the view is lagging, not that its message is lost.
//
// It is max(seq) over room_events, which the ClickHouse projector fills with
// every room event. For the header to promise that every message with a seq
// at most it is readable, the projector must insert a batch's messages rows
// before (or with) its room_events rows.

// The PostgreSQL view's last_seq and newest message time are hints: the
// history is usually at or near them, and a seq range next to last_seq in
// the recent partitions is a granule or two to read, where max(seq) over the
// whole room reads every event the room ever had. If the history lags
// behind the hints (nothing found), the whole room is read.
const (
	sqlProjectedSeqFrom = `SELECT max(seq) FROM room_events
		WHERE room_id = ? AND seq >= ? AND occurred_at >= toDateTime(?)`
	sqlProjectedSeqAll = `SELECT max(seq) FROM room_events WHERE room_id = ?`
	// seqHintSlack is how far behind the PostgreSQL view the history may lag
	// before the fallback reads the whole room.
	seqHintSlack = 10000
)

// seqProbe is the hinted max(seq) query's arguments: seq >= from, events
// since since (unix seconds). A history read may carry it as a scalar
// subquery (history.go), which saves a ClickHouse round trip per page.
type seqProbe struct {
	room        schemas.ID
	from, since int64
}

// probeFor returns the hinted query of r, or nil when the PostgreSQL view
// has no hint (the room has no events there yet).
func probeFor(r roomRow) *seqProbe {
	if r.LastSeq <= 0 {
		return nil
	}
	// Events are stamped in seq order from the owner's clock: the newest
	// lie after the newest message the view knows (see timeSlack).
	since := r.CreatedAt
	if r.LastMessageAt != nil {
		since = *r.LastMessageAt
	}
	return &seqProbe{room: r.ID, from: max(r.LastSeq-seqHintSlack, 1), since: unixSeconds(since.Add(-timeSlack))}
}

// sql is the probe as a scalar subquery, with its arguments.
func (p *seqProbe) sql() (string, []any) {
	return `(` + sqlProjectedSeqFrom + `)`, []any{uint64(p.room), uint64(p.from), p.since}
}

// projectedSeq returns the highest seq of r in the history (0 if none).
func (s *Service) projectedSeq(ctx context.Context, r roomRow) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	ctx = chSettings(ctx, s.cfg.QueryTimeout, nil)
	var seq uint64
	if p := probeFor(r); p != nil {
		q, args := p.sql()
		if err := s.ch.QueryRow(ctx, `SELECT `+q, args...).Scan(&seq); err != nil {
			return 0, storeError(ctx, fmt.Errorf("projected seq of room %d: %w", r.ID, err))
		}
		if seq > 0 { // max over no rows is 0 in ClickHouse
			return int64(seq), nil
		}
	}
	if err := s.ch.QueryRow(ctx, sqlProjectedSeqAll, uint64(r.ID)).Scan(&seq); err != nil {
		return 0, storeError(ctx, fmt.Errorf("projected seq of room %d: %w", r.ID, err))
	}
	return int64(seq), nil
}
