package query

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"happychat/schemas"
)

// exportBlockRows caps ClickHouse's block size for exports: the driver holds
// a few decoded blocks at a time, so this bounds the process's memory per
// export (about 8,192 rows × the size of a row × 4) whatever the room's size.
const exportBlockRows = 8192

// Export is a prepared export of one room's history: the room is known to
// exist and be visible, and ProjectedSeq is known before the first row, so
// the HTTP layer can send its headers before streaming. It holds one of the
// instance's export slots until Close.
type Export struct {
	Room         schemas.ID
	ProjectedSeq int64
	s            *Service
	r            roomRow
	release      func()
}

// OpenExport checks that caller may read room, takes an export slot (503
// when every slot is taken) and prepares the export. The caller must Close
// it.
func (s *Service) OpenExport(ctx context.Context, c Caller, room schemas.ID) (*Export, error) {
	r, err := s.loadRoom(ctx, c, room)
	if err != nil {
		return nil, err
	}
	release, err := s.exports.enter()
	if err != nil {
		return nil, err
	}
	seq, err := s.projectedSeq(ctx, r)
	if err != nil {
		release()
		return nil, err
	}
	return &Export{Room: room, ProjectedSeq: seq, s: s, r: r, release: release}, nil
}

// Close gives the export's slot back. Safe to call more than once.
func (e *Export) Close() {
	if e.release != nil {
		e.release()
		e.release = nil
	}
}

// Stream hands every message of the room to emit, oldest first, as it is
// read, and returns how many it emitted. The room is read in id windows of
// at most ExportChunk messages, each its own query under
// ExportChunkTimeout, so neither this process nor ClickHouse ever holds more
// than one window. Messages that arrive during the export are included up to
// the moment the last, open-ended window is read. Stream stops at the first
// error of emit or of the store, and when ctx ends (a client that goes away
// cancels the request's context, which cancels the running query).
func (e *Export) Stream(ctx context.Context, emit func(*schemas.Message) error) (int64, error) {
	s := e.s
	s.metrics.exporting.Inc()
	defer s.metrics.exporting.Dec()
	chunk := s.cfg.ExportChunk
	sc := exportScan(chunk, e.r, s.cfg.Now())
	settings := clickhouse.Settings{"max_block_size": exportBlockRows}
	n, err := walk(sc, chunk, -1, s.seeker(ctx, e.Room), func(w idWindow, limit int) (int, schemas.ID, error) {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ExportChunkTimeout)
		defer cancel()
		got, last, err := s.readWindow(cctx, &windowRead{room: e.Room, w: w, limit: limit, settings: settings}, emit)
		s.metrics.exported.Add(float64(got))
		return got, last, err
	})
	total := int64(n)
	if err != nil {
		return total, fmt.Errorf("export room %d after %d messages: %w", e.Room, total, err)
	}
	return total, nil
}

// exportScan plans the walk of an export in chunks of chunk messages.
// Messages of a room are minted after it was created, so the walk starts
// there (its first window still covers everything below, for free).
func exportScan(chunk int, r roomRow, now time.Time) *scan {
	return newAscScan(0, idCeiling(now), spanFor(chunk, r)).withFirstBelow(schemas.IDAt(r.CreatedAt))
}
