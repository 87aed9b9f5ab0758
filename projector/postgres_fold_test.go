package projector

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// The PostgreSQL fold without PostgreSQL: pgBatch.apply folds events into
// room rows held in memory and queues the independent statements; the only
// statements it runs at once (a join's, a leave's, a member count of a room
// outside the batch) go to a fake transaction that answers as scripted. The
// SQL itself is exercised by the integration tests.

// foldTx answers the statements the fold runs in its transaction. Methods
// the fold does not call are left to the nil pgx.Tx (they would panic).
type foldTx struct {
	pgx.Tx
	joinRows [][2]any // rows of pgJoin: (emptied room, is the new membership open)
	wasOpen  any      // pgCloseMember's answer: a bool, or an error
	decs     []int64  // rooms whose member count was decremented in place
}

func (tx *foldTx) Query(_ context.Context, sql string, _ ...any) (pgx.Rows, error) {
	if sql != pgJoin {
		return nil, errors.New("unexpected query")
	}
	return &foldRows{rows: tx.joinRows}, nil
}

func (tx *foldTx) QueryRow(_ context.Context, sql string, _ ...any) pgx.Row {
	if sql != pgCloseMember {
		return foldRow{errors.New("unexpected query")}
	}
	return foldRow{tx.wasOpen}
}

func (tx *foldTx) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if sql != pgDecMembers {
		return pgconn.CommandTag{}, errors.New("unexpected statement")
	}
	tx.decs = append(tx.decs, args[0].(int64))
	return pgconn.NewCommandTag("UPDATE 1"), nil
}

type foldRows struct {
	pgx.Rows
	rows [][2]any
	i    int
}

func (r *foldRows) Next() bool                    { r.i++; return r.i <= len(r.rows) }
func (r *foldRows) Close()                        {}
func (r *foldRows) Err() error                    { return nil }
func (r *foldRows) CommandTag() pgconn.CommandTag { return pgconn.NewCommandTag("SELECT") }
func (r *foldRows) Scan(dest ...any) error {
	*dest[0].(*int64) = r.rows[r.i-1][0].(int64)
	*dest[1].(*bool) = r.rows[r.i-1][1].(bool)
	return nil
}

type foldRow struct{ v any }

func (r foldRow) Scan(dest ...any) error {
	if err, ok := r.v.(error); ok {
		return err
	}
	*dest[0].(*bool) = r.v.(bool)
	return nil
}

var foldNames = schemas.NamesFor("fold")

func newFoldBatch(tx *foldTx) *pgBatch {
	s := &pgSink{names: foldNames, log: slog.New(slog.DiscardHandler), m: newMetrics(nil), name: pgProjectorName, deadLog: newLogLimiter()}
	return &pgBatch{s: s, tx: tx, rooms: map[int64]*roomRow{}}
}

func roomRec(off int64, room schemas.ID, user schemas.ID, seq int64, p schemas.Event) *feed.Record {
	return &feed.Record{Topic: foldNames.Rooms, Offset: off, Env: schemas.Envelope{ID: schemas.ID(100 + off), RoomID: room, UserID: user, Seq: seq,
		OccurredAt: time.UnixMilli(1795000000000 + off).UTC(), Payload: p, Type: p.EventType()}}
}

func mustFold(t *testing.T, b *pgBatch, recs ...*feed.Record) {
	t.Helper()
	for _, r := range recs {
		if err := b.apply(t.Context(), r); err != nil {
			t.Fatalf("apply %d: %v", r.Offset, err)
		}
	}
}

func anomalies(b *pgBatch, kind string) float64 {
	return counter(b.s.m.anomalies.WithLabelValues(pgProjectorName, kind))
}

// TestPGFoldRooms: creation, approval, messages, the seq gate (a record at
// or below the room's last seq is a duplicate) and the anomalies counted.
func TestPGFoldRooms(t *testing.T) {
	b := newFoldBatch(&foldTx{})
	mustFold(t, b,
		roomRec(0, 1, 7, 1, schemas.RoomProposed{Title: "t", Description: "d"}),
		roomRec(1, 1, 7, 2, schemas.MessageSent{Text: "a"}),
		roomRec(2, 1, 7, 2, schemas.MessageSent{Text: "a"}), // a duplicate of seq 2
		roomRec(3, 1, 7, 3, schemas.RoomApproved{}),
		roomRec(4, 1, 7, 4, schemas.MessageSent{Text: "b"}),
	)
	r := b.rooms[1]
	if r == nil || r.title != "t" || r.description != "d" || r.createdBy == nil || *r.createdBy != 7 {
		t.Fatalf("room %+v", r)
	}
	if r.status != schemas.RoomStatusOpen || r.approvedAt == nil || !r.approvedAt.Equal(time.UnixMilli(1795000000003)) {
		t.Errorf("after approval: status %q approved at %v", r.status, r.approvedAt)
	}
	if r.messageCount != 2 || r.lastSeq != 4 || !r.dirty || r.lastMessageID == nil || *r.lastMessageID != 104 {
		t.Errorf("messages %d, last seq %d, dirty %v, last message %v; want 2, 4, true, 104", r.messageCount, r.lastSeq, r.dirty, r.lastMessageID)
	}
	if !slices.Equal(b.msgID, []int64{101, 104}) || !slices.Equal(b.msgSeq, []int64{2, 4}) || !slices.Equal(b.msgOrd, []int64{1, 2}) ||
		!slices.Equal(b.msgRoom, []int64{1, 1}) {
		t.Errorf("room_messages rows: rooms %v ids %v seqs %v ords %v", b.msgRoom, b.msgID, b.msgSeq, b.msgOrd)
	}
	if g := anomalies(b, "seq_gap"); g != 0 {
		t.Errorf("%v seq gaps counted in a gapless room", g)
	}

	// An approval of an open room changes nothing; a gap and a second
	// creation are anomalies, applied all the same.
	mustFold(t, b,
		roomRec(5, 1, 7, 5, schemas.RoomApproved{}),
		roomRec(6, 1, 7, 7, schemas.MessageSent{Text: "c"}),
		roomRec(7, 1, 7, 8, schemas.RoomCreated{Title: "again"}),
	)
	if !r.approvedAt.Equal(time.UnixMilli(1795000000003)) || r.lastSeq != 8 || r.messageCount != 3 {
		t.Errorf("approved at %v, last seq %d, %d messages; want the first approval, 8, 3", r.approvedAt, r.lastSeq, r.messageCount)
	}
	if g, c := anomalies(b, "seq_gap"), anomalies(b, "room_created_twice"); g != 1 || c != 1 {
		t.Errorf("%v seq gaps, %v second creations; want 1, 1", g, c)
	}
}

// TestPGFoldRejected: a rejected proposal keeps its row with status
// rejected; a rejection of an open room changes nothing.
func TestPGFoldRejected(t *testing.T) {
	b := newFoldBatch(&foldTx{})
	mustFold(t, b,
		roomRec(0, 1, 7, 1, schemas.RoomProposed{Title: "t"}),
		roomRec(1, 1, 0, 2, schemas.RoomRejected{Reason: "duplicate"}),
		roomRec(2, 2, 0, 1, schemas.RoomCreated{Title: "open"}),
		roomRec(3, 2, 0, 2, schemas.RoomRejected{}),
	)
	if r := b.rooms[1]; r == nil || r.status != schemas.RoomStatusRejected || r.lastSeq != 2 || r.approvedAt != nil {
		t.Errorf("rejected proposal: %+v", r)
	}
	if r := b.rooms[2]; r == nil || r.status != schemas.RoomStatusOpen || r.lastSeq != 2 {
		t.Errorf("an open room after a rejection: %+v", r)
	}
}

// TestPGFoldNewRoom: a room is started by its creation only; its creator is
// recorded when known (a proposal always has one).
func TestPGFoldNewRoom(t *testing.T) {
	b := newFoldBatch(&foldTx{})
	mustFold(t, b,
		roomRec(0, 1, 0, 1, schemas.RoomCreated{Title: "system"}),
		roomRec(1, 2, 1, 1, schemas.RoomCreated{Title: "by 1"}),
		roomRec(2, 3, 0, 1, schemas.RoomProposed{Title: "proposed"}),
		roomRec(3, 4, 5, 3, schemas.MessageSent{Text: "no room"}),
	)
	if r := b.rooms[1]; r == nil || r.createdBy != nil || r.status != schemas.RoomStatusOpen || r.lastSeq != 1 {
		t.Errorf("room created without a user: %+v", r)
	}
	if r := b.rooms[2]; r == nil || r.createdBy == nil || *r.createdBy != 1 {
		t.Errorf("room created by user 1: %+v", r)
	}
	if r := b.rooms[3]; r == nil || r.createdBy == nil || *r.createdBy != 0 || r.status != schemas.RoomStatusProposed {
		t.Errorf("proposed room: %+v", r)
	}
	if b.rooms[4] != nil || b.dead != 1 || b.later.Len() != 1 || b.later.QueuedQueries[0].SQL != pgDeadLetter {
		t.Errorf("an event of a room never created: room %+v, %d dead letters, %d queued", b.rooms[4], b.dead, b.later.Len())
	}
}

// TestPGFoldQueued: user events queue their statement, a session
// revocation is known and skipped (no statement, no dead letter), a poison
// record and an event on the wrong topic are dead letters, another topic is
// ignored.
func TestPGFoldQueued(t *testing.T) {
	b := newFoldBatch(&foldTx{})
	users := func(off int64, p schemas.Event) *feed.Record {
		return &feed.Record{Topic: foldNames.Users, Offset: off, Env: schemas.Envelope{ID: 50, UserID: 9, RoomID: 3, Payload: p, Type: p.EventType()}}
	}
	poison := feed.DecodeRecord(schemas.Events, foldNames.Rooms, 0, 5, []byte("k"), []byte("{not json"))
	mustFold(t, b,
		users(0, schemas.UserRegistered{Nickname: "ann"}),
		users(1, schemas.ReadMarkMoved{UpTo: 77}),
		users(2, schemas.MessageSent{Text: "misplaced"}),
		users(3, schemas.SessionRevoked{SessionID: "s", ExpiresAt: "2026-12-22T21:21:13.123Z"}),
		&poison,
		&feed.Record{Topic: "elsewhere", Env: schemas.Envelope{Payload: schemas.RoomApproved{}}},
	)
	var sqls []string
	for _, q := range b.later.QueuedQueries {
		sqls = append(sqls, q.SQL)
	}
	if want := []string{pgInsertUser, pgMoveReadMark, pgDeadLetter, pgDeadLetter}; !slices.Equal(sqls, want) {
		t.Fatalf("queued %d statements %q, want user, read mark, two dead letters", len(sqls), sqls)
	}
	if a := b.later.QueuedQueries[1].Arguments; a[0] != int64(9) || a[1] != int64(3) || a[2] != int64(77) {
		t.Errorf("read mark arguments %v", a)
	}
	if b.dead != 2 || len(b.rooms) != 0 {
		t.Errorf("%d dead letters, %d rooms; want 2, 0", b.dead, len(b.rooms))
	}
}

// TestPGFoldMembers: a join counts a member if its membership is open and
// ends the user's earlier ones (their rooms lose a member: in memory for a
// room of the batch, in place otherwise); a leave counts one less only if
// the membership was still open.
func TestPGFoldMembers(t *testing.T) {
	tx := &foldTx{}
	b := newFoldBatch(tx)
	mustFold(t, b, roomRec(0, 1, 7, 1, schemas.RoomCreated{Title: "one"}), roomRec(1, 2, 7, 1, schemas.RoomCreated{Title: "two"}))
	b.rooms[2].memberCount, b.rooms[2].dirty = 3, false

	tx.joinRows = [][2]any{{int64(0), true}, {int64(2), false}, {int64(9), false}}
	mustFold(t, b, roomRec(2, 1, 7, 2, schemas.RoomJoined{Nickname: "n"}))
	if r1, r2 := b.rooms[1], b.rooms[2]; r1.memberCount != 1 || r2.memberCount != 2 || !r2.dirty || !slices.Equal(tx.decs, []int64{9}) {
		t.Errorf("after the join: members %d and %d (dirty %v), decremented in place %v; want 1, 2 (true), [9]", r1.memberCount, r2.memberCount, r2.dirty, tx.decs)
	}
	tx.joinRows = [][2]any{{int64(0), false}} // a membership already over
	mustFold(t, b, roomRec(3, 1, 8, 3, schemas.RoomJoined{Nickname: "m"}))
	if n := b.rooms[1].memberCount; n != 1 {
		t.Errorf("a join already over counted: %d members, want 1", n)
	}

	for _, tt := range []struct {
		wasOpen any
		members int32
		fails   bool
	}{
		{false, 1, false},
		{pgx.ErrNoRows, 1, false},
		{true, 0, false},
		{errors.New("connection reset"), 0, true},
	} {
		tx.wasOpen = tt.wasOpen
		seq := b.rooms[1].lastSeq + 1
		err := b.apply(t.Context(), roomRec(seq+10, 1, 7, seq, schemas.RoomLeft{Reason: "left"}))
		if (err != nil) != tt.fails || b.rooms[1].memberCount != tt.members {
			t.Errorf("leave answered %v: err %v, %d members; want failure %v, %d", tt.wasOpen, err, b.rooms[1].memberCount, tt.fails, tt.members)
		}
	}
}
