package projector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// roomRow is a rooms row held (locked) for the length of a batch: most
// events of a batch only change counters, which are folded in memory and
// written back once.
type roomRow struct {
	id            int64
	title         string
	description   string
	status        string
	createdBy     *int64
	createdAt     time.Time
	approvedAt    *time.Time
	memberCount   int32
	messageCount  int64
	lastMessageAt *time.Time
	lastMessageID *int64
	lastSeq       int64
	dirty         bool
}

// pgBatch is one transaction of the PostgreSQL projector.
type pgBatch struct {
	s     *pgSink
	tx    pgx.Tx
	rooms map[int64]*roomRow
	// room_messages rows, written at the end with one statement.
	msgRoom, msgID, msgSeq, msgOrd []int64
	// later holds statements independent of the rooms and members (users,
	// read marks, dead letters), sent in one round trip at the end.
	later pgx.Batch
	dead  int
}

// run applies recs at the positions the store holds and returns the records
// it applied (those the store had not seen yet) and each partition's next
// position. expected is where this instance believes each partition is.
func (b *pgBatch) run(ctx context.Context, recs []feed.Record, expected map[feed.TP]int64) ([]feed.Record, map[feed.TP]int64, error) {
	first := map[feed.TP]int64{}
	next := map[feed.TP]int64{}
	for i := range recs {
		tp := feed.TP{Topic: recs[i].Topic, Partition: recs[i].Partition}
		if _, ok := first[tp]; !ok {
			first[tp] = recs[i].Offset
		}
		next[tp] = recs[i].Offset + 1
	}
	floor, err := b.lockPositions(ctx, first, expected)
	if err != nil {
		return nil, nil, err
	}
	todo := make([]feed.Record, 0, len(recs))
	for _, r := range recs {
		if r.Offset >= floor[feed.TP{Topic: r.Topic, Partition: r.Partition}] {
			todo = append(todo, r)
		}
	}
	if err := b.loadRooms(ctx, todo); err != nil {
		return nil, nil, err
	}
	for i := range todo {
		if err := b.apply(ctx, &todo[i]); err != nil {
			return nil, nil, fmt.Errorf("%s/%d@%d %s: %w", todo[i].Topic, todo[i].Partition, todo[i].Offset, todo[i].Env.Type, err)
		}
	}
	if err := b.save(ctx, next); err != nil {
		return nil, nil, err
	}
	if b.dead > 0 {
		b.s.m.dead.WithLabelValues(b.s.name).Add(float64(b.dead))
	}
	return todo, next, nil
}

// lockPositions takes the position rows of the batch's partitions and
// returns, per partition, the first offset the store still needs. It answers
// feed.ErrRestart when the store holds less than this instance already
// consumed: the views were replaced (replay) and the consumer must seek back.
func (b *pgBatch) lockPositions(ctx context.Context, first, expected map[feed.TP]int64) (map[feed.TP]int64, error) {
	tps := slices.SortedFunc(maps.Keys(first), func(a, b feed.TP) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	topics := make([]string, len(tps))
	parts := make([]int32, len(tps))
	offs := make([]int64, len(tps))
	for i, tp := range tps {
		topics[i], parts[i] = tp.Topic, tp.Partition
		if e, ok := expected[tp]; ok {
			offs[i] = e
		} else {
			offs[i] = first[tp]
		}
	}
	if _, err := b.tx.Exec(ctx, pgEnsureOffsets, b.s.name, topics, parts, offs); err != nil {
		return nil, fmt.Errorf("ensure positions: %w", err)
	}
	rows, err := b.tx.Query(ctx, pgLockOffsets, b.s.name, topics, parts)
	if err != nil {
		return nil, fmt.Errorf("lock positions: %w", err)
	}
	stored := map[feed.TP]int64{}
	var tp feed.TP
	var off int64
	if _, err := pgx.ForEachRow(rows, []any{&tp.Topic, &tp.Partition, &off}, func() error {
		stored[tp] = off
		return nil
	}); err != nil {
		return nil, fmt.Errorf("lock positions: %w", err)
	}
	for _, tp := range tps {
		st, ok := stored[tp]
		if !ok {
			return nil, fmt.Errorf("position row of %s/%d vanished", tp.Topic, tp.Partition)
		}
		if e, known := expected[tp]; known && st < e {
			b.s.log.Warn("stored position is behind this consumer: the views were replaced, seeking back",
				"topic", tp.Topic, "partition", tp.Partition, "stored", st, "consumer", e)
			return nil, feed.ErrRestart
		}
	}
	return stored, nil
}

func (b *pgBatch) loadRooms(ctx context.Context, recs []feed.Record) error {
	ids := map[int64]bool{}
	for i := range recs {
		if recs[i].Err == nil && recs[i].Topic == b.s.names.Rooms && recs[i].Env.RoomID > 0 {
			ids[int64(recs[i].Env.RoomID)] = true
		}
	}
	b.rooms = make(map[int64]*roomRow, len(ids))
	if len(ids) == 0 {
		return nil
	}
	rows, err := b.tx.Query(ctx, pgLoadRooms, slices.Collect(maps.Keys(ids)))
	if err != nil {
		return fmt.Errorf("load rooms: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		// A fresh row each time: pgx may reuse the targets of pointer fields.
		r := &roomRow{}
		if err := rows.Scan(&r.id, &r.title, &r.description, &r.status, &r.createdBy, &r.createdAt,
			&r.approvedAt, &r.memberCount, &r.messageCount, &r.lastMessageAt, &r.lastMessageID, &r.lastSeq); err != nil {
			return fmt.Errorf("load rooms: %w", err)
		}
		b.rooms[r.id] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load rooms: %w", err)
	}
	return nil
}

// apply folds one record into the batch.
func (b *pgBatch) apply(ctx context.Context, rec *feed.Record) error {
	if rec.Err != nil {
		b.deadLetter(rec, rec.Err.Error())
		return nil
	}
	env := rec.Env
	switch rec.Topic {
	case b.s.names.Rooms:
		switch env.Payload.(type) {
		case schemas.RoomCreated, schemas.RoomProposed, schemas.RoomApproved, schemas.RoomJoined, schemas.RoomLeft, schemas.MessageSent:
			return b.roomEvent(ctx, rec)
		}
	case b.s.names.Users:
		switch p := env.Payload.(type) {
		case schemas.UserRegistered:
			b.later.Queue(pgInsertUser, int64(env.UserID), p.Nickname, env.OccurredAt)
			return nil
		case schemas.ReadMarkMoved:
			b.later.Queue(pgMoveReadMark, int64(env.UserID), int64(env.RoomID), int64(p.UpTo))
			return nil
		}
	default:
		return nil
	}
	b.deadLetter(rec, fmt.Sprintf("event %s does not belong on topic %s", env.Type, rec.Topic))
	return nil
}

func (b *pgBatch) deadLetter(rec *feed.Record, reason string) {
	if b.s.deadLog.Allow() {
		b.s.log.Warn("dead letter: record skipped", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "reason", reason)
	}
	b.later.Queue(pgDeadLetter, b.s.name, rec.Topic, rec.Partition, rec.Offset, rec.Key, rec.Value, reason)
	b.dead++
}

func (b *pgBatch) anomaly(kind string, rec *feed.Record, args ...any) {
	b.s.m.anomalies.WithLabelValues(b.s.name, kind).Inc()
	b.s.log.Warn("log anomaly: "+kind, append([]any{"room", rec.Env.RoomID, "seq", rec.Env.Seq, "type", rec.Env.Type,
		"partition", rec.Partition, "offset", rec.Offset}, args...)...)
}

// roomEvent applies a room event if it is the room's next one (seq gate):
// an event at or below the room's last seq was applied already.
func (b *pgBatch) roomEvent(ctx context.Context, rec *feed.Record) error {
	env := rec.Env
	r := b.rooms[int64(env.RoomID)]
	if r == nil {
		r = newRoomRow(env)
		if r == nil {
			b.deadLetter(rec, "event for a room that was never created")
			return nil
		}
		b.rooms[r.id] = r
	} else if env.Seq <= r.lastSeq {
		return nil // a duplicate: the view already holds it
	} else {
		switch env.Payload.(type) {
		case schemas.RoomCreated, schemas.RoomProposed:
			b.anomaly("room_created_twice", rec)
		}
	}
	if env.Seq != r.lastSeq+1 {
		b.anomaly("seq_gap", rec, "last_seq", r.lastSeq)
	}
	at := env.OccurredAt
	switch p := env.Payload.(type) {
	case schemas.RoomApproved:
		if r.status != schemas.RoomStatusOpen {
			r.status = schemas.RoomStatusOpen
			r.approvedAt = &at
		}
	case schemas.MessageSent:
		r.messageCount++
		id := int64(env.ID)
		r.lastMessageAt, r.lastMessageID = &at, &id
		b.msgRoom = append(b.msgRoom, r.id)
		b.msgID = append(b.msgID, id)
		b.msgSeq = append(b.msgSeq, env.Seq)
		b.msgOrd = append(b.msgOrd, r.messageCount)
	case schemas.RoomJoined:
		if err := b.joined(ctx, r, env, p); err != nil {
			return err
		}
	case schemas.RoomLeft:
		if err := b.left(ctx, r, env, p); err != nil {
			return err
		}
	}
	r.lastSeq = env.Seq
	r.dirty = true
	return nil
}

// newRoomRow returns the row a creation event starts, nil for any other event.
func newRoomRow(env schemas.Envelope) *roomRow {
	r := &roomRow{id: int64(env.RoomID), createdAt: env.OccurredAt}
	switch p := env.Payload.(type) {
	case schemas.RoomCreated:
		r.title, r.description, r.status = p.Title, p.Description, schemas.RoomStatusOpen
		if env.UserID > 0 {
			by := int64(env.UserID)
			r.createdBy = &by
		}
	case schemas.RoomProposed:
		r.title, r.description, r.status = p.Title, p.Description, schemas.RoomStatusProposed
		by := int64(env.UserID)
		r.createdBy = &by
	default:
		return nil
	}
	return r
}

// joined records a membership (see pgJoin): it may be over already, and it
// ends the user's earlier memberships.
func (b *pgBatch) joined(ctx context.Context, r *roomRow, env schemas.Envelope, p schemas.RoomJoined) error {
	rows, err := b.tx.Query(ctx, pgJoin, r.id, int64(env.UserID), int64(env.ID), p.Nickname, env.OccurredAt)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	var emptied []int64
	var room int64
	var flag bool
	if _, err := pgx.ForEachRow(rows, []any{&room, &flag}, func() error {
		switch {
		case room == 0 && flag:
			r.memberCount++
		case room != 0:
			emptied = append(emptied, room)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	for _, room := range emptied {
		if err := b.decMembers(ctx, room); err != nil {
			return err
		}
	}
	return nil
}

// left ends the user's membership of the room, unless an earlier event
// (a later join elsewhere with a smaller id) already did.
func (b *pgBatch) left(ctx context.Context, r *roomRow, env schemas.Envelope, p schemas.RoomLeft) error {
	var wasOpen bool
	err := b.tx.QueryRow(ctx, pgCloseMember, r.id, int64(env.UserID), int64(env.ID), env.OccurredAt, p.Reason).Scan(&wasOpen)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("close membership: %w", err)
	}
	if wasOpen {
		r.memberCount--
	}
	return nil
}

// decMembers counts one current member less in room. Rooms of the batch
// are counted in memory; others (in partitions this batch does not touch)
// are updated in place.
func (b *pgBatch) decMembers(ctx context.Context, room int64) error {
	if r := b.rooms[room]; r != nil {
		r.memberCount--
		r.dirty = true
		return nil
	}
	if _, err := b.tx.Exec(ctx, pgDecMembers, room); err != nil {
		return fmt.Errorf("decrement members of %d: %w", room, err)
	}
	return nil
}

// save writes the folded rooms, the room_messages rows, the queued
// statements and the new positions in one round trip.
func (b *pgBatch) save(ctx context.Context, next map[feed.TP]int64) error {
	var batch pgx.Batch
	if ids := slices.Sorted(maps.Keys(b.rooms)); len(ids) > 0 {
		var (
			id, msgCount, lastSeq []int64
			createdBy, lastMsgID  []*int64
			title, desc, status   []string
			createdAt             []time.Time
			approvedAt, lastMsgAt []*time.Time
			members               []int32
		)
		for _, k := range ids {
			r := b.rooms[k]
			if !r.dirty {
				continue
			}
			id = append(id, r.id)
			title = append(title, r.title)
			desc = append(desc, r.description)
			status = append(status, r.status)
			createdBy = append(createdBy, r.createdBy)
			createdAt = append(createdAt, r.createdAt)
			approvedAt = append(approvedAt, r.approvedAt)
			members = append(members, r.memberCount)
			msgCount = append(msgCount, r.messageCount)
			lastMsgAt = append(lastMsgAt, r.lastMessageAt)
			lastMsgID = append(lastMsgID, r.lastMessageID)
			lastSeq = append(lastSeq, r.lastSeq)
		}
		if len(id) > 0 {
			batch.Queue(pgSaveRooms, id, title, desc, status, createdBy, createdAt, approvedAt, members, msgCount, lastMsgAt, lastMsgID, lastSeq)
		}
	}
	if len(b.msgID) > 0 {
		batch.Queue(pgInsertRoomMessages, b.msgRoom, b.msgID, b.msgSeq, b.msgOrd)
	}
	batch.QueuedQueries = append(batch.QueuedQueries, b.later.QueuedQueries...)
	topics := make([]string, 0, len(next))
	parts := make([]int32, 0, len(next))
	offs := make([]int64, 0, len(next))
	for tp, n := range next {
		topics, parts, offs = append(topics, tp.Topic), append(parts, tp.Partition), append(offs, n)
	}
	batch.Queue(pgAdvanceOffsets, b.s.name, topics, parts, offs)
	br := b.tx.SendBatch(ctx, &batch)
	for i := 0; i < batch.Len(); i++ {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return fmt.Errorf("save batch: %w", err)
		}
	}
	return br.Close()
}
