package projector

import (
	"slices"
	"testing"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// TestPGFoldReadMarkV2: a read mark from the rooms topic (readmark.moved v2,
// with a seq) advances its room's seq and queues the same statement as v1
// from the users topic; a v1 (no seq) on the rooms topic and a v2 (a seq) on
// the users topic are dead letters.
func TestPGFoldReadMarkV2(t *testing.T) {
	b := newFoldBatch(&foldTx{})
	mustFold(t, b,
		roomRec(0, 3, 0, 1, schemas.RoomCreated{Title: "t"}),
		roomRec(1, 3, 9, 2, schemas.ReadMarkMoved{UpTo: 77}),
		roomRec(2, 3, 9, 0, schemas.ReadMarkMoved{UpTo: 78}),
		&feed.Record{Topic: foldNames.Users, Offset: 3, Env: schemas.Envelope{ID: 51, UserID: 9, RoomID: 3, Seq: 4,
			Payload: schemas.ReadMarkMoved{UpTo: 79}, Type: schemas.TypeReadMarkMoved}},
	)
	var sqls []string
	for _, q := range b.later.QueuedQueries {
		sqls = append(sqls, q.SQL)
	}
	if !slices.Contains(sqls, pgMoveReadMark) {
		t.Fatalf("no read mark queued: %q", sqls)
	}
	for _, q := range b.later.QueuedQueries {
		if q.SQL == pgMoveReadMark {
			if a := q.Arguments; a[0] != int64(9) || a[1] != int64(3) || a[2] != int64(77) {
				t.Errorf("read mark arguments %v", a)
			}
		}
	}
	if r := b.rooms[3]; r == nil || r.lastSeq != 2 {
		t.Fatalf("room %+v, want at seq 2", r)
	}
	if b.dead != 2 {
		t.Errorf("%d dead letters, want 2 (a v1 on the rooms topic, a v2 on the users topic)", b.dead)
	}
}
