package projector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"happychat/projector/internal/feed"
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
	stored, err := scanPositions(rows)
	if err != nil {
		return nil, fmt.Errorf("lock positions: %w", err)
	}
	for _, tp := range tps {
		st, ok := stored[tp]
		if !ok {
			return nil, fmt.Errorf("position row of %s/%d vanished", tp.Topic, tp.Partition)
		}
		if e, known := expected[tp]; known && st < e {
			return nil, b.s.seekBack(tp, st, e)
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
