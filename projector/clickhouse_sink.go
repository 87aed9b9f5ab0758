package projector

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/time/rate"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

type chTables struct{ messages, events, dead string }

type chMessage struct {
	roomID, id, seq, userID   uint64
	nickname, text, body, cid string
	effects                   []string
	sentAt                    time.Time
	partition                 uint32
	offset                    uint64
}

type chEvent struct {
	roomID, seq, id, userID uint64
	typ                     string
	at                      time.Time
	partition               uint32
	offset                  uint64
}

type chDead struct {
	partition  uint32
	offset     uint64
	key, value string
	reason     string
}

// chRows are the rows of one batch.
type chRows struct {
	msgs     []chMessage
	events   []chEvent
	dead     []chDead
	occurred []time.Time
	epoch    uint64
}

// n counts the records of the batch: each gives one room_events row.
func (r *chRows) n() int { return len(r.events) }

// drop removes the rows of the given partitions.
func (r *chRows) drop(gone map[int32]bool) {
	r.msgs = filter(r.msgs, func(m chMessage) bool { return !gone[int32(m.partition)] })
	r.events = filter(r.events, func(e chEvent) bool { return !gone[int32(e.partition)] })
	r.dead = filter(r.dead, func(d chDead) bool { return !gone[int32(d.partition)] })
}

// chSink buffers rows and inserts them in batches: messages and dead
// letters first, then the room event index that positions are read from, so
// that a crash in between only ever leaves rows that will be inserted again
// (and collapse), never an index row without its message.
//
// Inserts are pipelined: Flush hands the batch to a goroutine and returns,
// so that the next batch is fetched and decoded while ClickHouse writes this
// one. At most one insert is in flight and batches are inserted in order;
// the next Flush (or Sync) reports the outcome, and a failed batch is
// retried before anything newer.
type chSink struct {
	conn       driver.Conn
	rules      Rules
	rooms      string
	tables     chTables
	flushEvery time.Duration
	log        *slog.Logger
	m          *metrics
	name       string
	// fixedEpoch, for a replay, is the epoch its rows carry; it owns its
	// tables, so it never checks the live epoch.
	fixedEpoch *uint64
	deadLog    *rate.Limiter

	mu         sync.Mutex
	epoch      uint64
	epochKnown bool
	stale      bool
	buf        chRows
	first      time.Time
	// inflight, when set, receives the outcome of the insert of sending.
	inflight chan error
	sending  *chRows
	// failed is a batch whose insert failed: retried before anything else.
	failed *chRows
}

func (s *chSink) Resume(ctx context.Context, parts map[string][]int32) (map[string]map[int32]int64, error) {
	var epoch uint64
	if s.fixedEpoch != nil {
		epoch = *s.fixedEpoch
	} else {
		e, err := chEpoch(ctx, s.conn)
		if err != nil {
			return nil, err
		}
		epoch = e
		s.mu.Lock()
		if s.epochKnown && e != s.epoch {
			s.stale = true
		} else {
			s.epoch, s.epochKnown = e, true
		}
		s.mu.Unlock()
	}
	// room_events indexes every record of the topic (dead letters under
	// room 0) and is inserted last: its maximum is the position.
	next := map[int32]int64{}
	rows, err := s.conn.Query(ctx, fmt.Sprintf("SELECT partition, max(offset) FROM %s WHERE epoch = ? GROUP BY partition", s.tables.events), epoch)
	if err != nil {
		return nil, fmt.Errorf("read positions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p uint32
		var off uint64
		if err := rows.Scan(&p, &off); err != nil {
			return nil, err
		}
		next[int32(p)] = int64(off) + 1
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	for t, ps := range parts {
		if t != s.rooms {
			continue
		}
		for _, p := range ps {
			if off, ok := next[p]; ok {
				if out[t] == nil {
					out[t] = map[int32]int64{}
				}
				out[t][p] = off
			}
		}
	}
	return out, nil
}

// Verify answers feed.ErrRestart if a replay switched the history tables
// while this projector had nothing to insert.
func (s *chSink) Verify(ctx context.Context) error {
	if s.fixedEpoch != nil {
		return nil
	}
	live, err := chEpoch(ctx, s.conn)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epochKnown && live != s.epoch {
		s.log.Warn("the history tables were swapped by a replay: resuming from the new tables", "epoch", live)
		s.resetLocked()
		return feed.ErrRestart
	}
	return nil
}

// softenParallel is the batch size from which Apply softens messages on
// every CPU: the rules are pure, and a replay feeds 100k records at once.
const softenParallel = 2000

// Apply buffers the rows of recs; Flush inserts them.
func (s *chSink) Apply(_ context.Context, recs []feed.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	firstMsg := len(s.buf.msgs)
	for i := range recs {
		r := &recs[i]
		if r.Topic != s.rooms {
			continue
		}
		if s.buf.n() == 0 {
			s.first = time.Now()
		}
		if r.Err != nil {
			s.deadLetter(r, r.Err.Error())
			continue
		}
		env := r.Env
		switch p := env.Payload.(type) {
		case schemas.MessageSent:
			s.buf.msgs = append(s.buf.msgs, chMessage{
				roomID: uint64(env.RoomID), id: uint64(env.ID), seq: uint64(env.Seq), userID: uint64(env.UserID),
				nickname: p.Nickname, text: p.Text, cid: p.ClientMsgID, sentAt: env.OccurredAt,
				partition: uint32(r.Partition), offset: uint64(r.Offset),
			})
		case schemas.RoomCreated, schemas.RoomProposed, schemas.RoomApproved, schemas.RoomJoined, schemas.RoomLeft:
		default:
			s.deadLetter(r, fmt.Sprintf("event %s does not belong on topic %s", env.Type, r.Topic))
			continue
		}
		s.buf.events = append(s.buf.events, chEvent{
			roomID: uint64(env.RoomID), seq: uint64(env.Seq), id: uint64(env.ID), userID: uint64(env.UserID),
			typ: env.Type, at: env.OccurredAt, partition: uint32(r.Partition), offset: uint64(r.Offset),
		})
		s.buf.occurred = append(s.buf.occurred, env.OccurredAt)
	}
	s.soften(s.buf.msgs[firstMsg:])
	return nil
}

// soften fills in the body and effects of msgs.
func (s *chSink) soften(msgs []chMessage) {
	one := func(part []chMessage) {
		for i := range part {
			part[i].body = s.rules.Soften(part[i].text)
			part[i].effects = s.rules.Effects(part[i].text)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(msgs) < softenParallel || workers < 2 {
		one(msgs)
		return
	}
	var wg sync.WaitGroup
	size := (len(msgs) + workers - 1) / workers
	for start := 0; start < len(msgs); start += size {
		part := msgs[start:min(start+size, len(msgs))]
		wg.Go(func() { one(part) })
	}
	wg.Wait()
}

func (s *chSink) deadLetter(r *feed.Record, reason string) {
	if s.deadLog == nil {
		s.deadLog = newLogLimiter()
	}
	if s.deadLog.Allow() {
		s.log.Warn("dead letter: record skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
	}
	s.buf.dead = append(s.buf.dead, chDead{partition: uint32(r.Partition), offset: uint64(r.Offset),
		key: string(r.Key), value: string(r.Value), reason: reason})
	// The position index covers dead letters too, under room 0 (no room has
	// id 0) with a seq made unique from the record's place on the log.
	s.buf.events = append(s.buf.events, chEvent{
		seq: uint64(r.Partition)<<40 | uint64(r.Offset), typ: deadLetterType,
		at: time.Now().UTC().Truncate(time.Millisecond), partition: uint32(r.Partition), offset: uint64(r.Offset),
	})
}

// deadLetterType marks the room_events rows of dead letters (room_id 0).
const deadLetterType = "dead_letter"

func (s *chSink) Pending() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.buf.n()
	if n == 0 {
		return 0, time.Time{}
	}
	return n, s.first.Add(s.flushEvery)
}

// Flush waits for the previous insert, then starts inserting the buffered
// rows. An error is the previous (or a retried) insert's: the rows stay and
// the next Flush retries them first.
func (s *chSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.settleLocked(ctx); err != nil {
		return err
	}
	if s.buf.n() == 0 {
		return nil
	}
	epoch := s.epoch
	if s.fixedEpoch != nil {
		epoch = *s.fixedEpoch
	} else {
		live, err := chEpoch(ctx, s.conn)
		if err != nil {
			return err
		}
		if s.stale || !s.epochKnown || live != s.epoch {
			s.log.Warn("the history tables were swapped by a replay: resuming from the new tables", "epoch", live)
			s.resetLocked()
			return feed.ErrRestart
		}
	}
	batch := s.buf
	batch.epoch = epoch
	s.buf = chRows{}
	s.sending = &batch
	done := make(chan error, 1)
	s.inflight = done
	// The insert outlives a cancelled poll: it is bounded by the
	// connection's timeouts and this deadline instead.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	go func() {
		defer cancel()
		done <- s.insert(ictx, &batch)
	}()
	return nil
}

// Sync waits until everything flushed so far is inserted (retrying a failed
// batch once) and returns the outcome.
func (s *chSink) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settleLocked(ctx)
}

// settleLocked waits for the insert in flight, then retries a failed batch.
func (s *chSink) settleLocked(ctx context.Context) error {
	if s.inflight != nil {
		var err error
		select {
		case err = <-s.inflight:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err != nil {
			s.failed = s.sending
		}
		s.inflight, s.sending = nil, nil
		if err != nil {
			return err
		}
	}
	if s.failed != nil {
		if err := s.insert(ctx, s.failed); err != nil {
			return err
		}
		s.failed = nil
	}
	return nil
}

// insert writes one batch: messages, dead letters, then the index.
func (s *chSink) insert(ctx context.Context, b *chRows) error {
	start := time.Now()
	if err := s.insertMessages(ctx, b.msgs); err != nil {
		return fmt.Errorf("insert %d messages: %w", len(b.msgs), err)
	}
	if err := s.insertDead(ctx, b.dead, b.epoch); err != nil {
		return fmt.Errorf("insert %d dead letters: %w", len(b.dead), err)
	}
	if err := s.insertEvents(ctx, b.events, b.epoch); err != nil {
		return fmt.Errorf("insert %d room events: %w", len(b.events), err)
	}
	if len(b.dead) > 0 {
		s.m.dead.WithLabelValues(s.name).Add(float64(len(b.dead)))
	}
	s.m.committed(s.name, b.n(), b.occurred, time.Since(start))
	s.log.Debug("inserted", "records", b.n(), "messages", len(b.msgs), "took", time.Since(start))
	return nil
}

func (s *chSink) insertMessages(ctx context.Context, msgs []chMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	n := len(msgs)
	var (
		room, id, seq, user, offset     = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		nick, text, body, cid, rulesVer = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		effects                         = make([][]string, n)
		sentMs                          = make([]int64, n)
		sentAt                          = make([]time.Time, n)
		part                            = make([]uint32, n)
	)
	version := s.rules.Version()
	for i, m := range msgs {
		room[i], id[i], seq[i], user[i], offset[i] = m.roomID, m.id, m.seq, m.userID, m.offset
		nick[i], text[i], body[i], cid[i], rulesVer[i] = m.nickname, m.text, m.body, m.cid, version
		effects[i] = m.effects
		if effects[i] == nil {
			effects[i] = []string{}
		}
		sentMs[i], sentAt[i], part[i] = m.sentAt.UnixMilli(), m.sentAt, m.partition
	}
	return s.send(ctx, fmt.Sprintf(`INSERT INTO %s (room_id, id, seq, user_id, nickname, text, body, effects,
client_msg_id, sent_ms, sent_at, rules_version, partition, offset)`, s.tables.messages),
		room, id, seq, user, nick, text, body, effects, cid, sentMs, sentAt, rulesVer, part, offset)
}

func (s *chSink) insertEvents(ctx context.Context, events []chEvent, epoch uint64) error {
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	var (
		room, seq, id, user, offset, epochs = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		typ                                 = make([]string, n)
		ms                                  = make([]int64, n)
		at                                  = make([]time.Time, n)
		part                                = make([]uint32, n)
	)
	for i, e := range events {
		room[i], seq[i], id[i], user[i], offset[i], epochs[i] = e.roomID, e.seq, e.id, e.userID, e.offset, epoch
		typ[i], ms[i], at[i], part[i] = e.typ, e.at.UnixMilli(), e.at, e.partition
	}
	return s.send(ctx, fmt.Sprintf(`INSERT INTO %s (room_id, seq, id, type, user_id, occurred_ms, occurred_at,
partition, offset, epoch)`, s.tables.events), room, seq, id, typ, user, ms, at, part, offset, epochs)
}

func (s *chSink) insertDead(ctx context.Context, dead []chDead, epoch uint64) error {
	if len(dead) == 0 {
		return nil
	}
	n := len(dead)
	topic, key, value, reason := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	part, offset, epochs := make([]uint32, n), make([]uint64, n), make([]uint64, n)
	at := make([]time.Time, n)
	now := time.Now()
	for i, d := range dead {
		topic[i], key[i], value[i], reason[i] = s.rooms, d.key, d.value, d.reason
		part[i], offset[i], epochs[i], at[i] = d.partition, d.offset, epoch, now
	}
	return s.send(ctx, fmt.Sprintf(`INSERT INTO %s (topic, partition, offset, key, value, error, recorded_at, epoch)`, s.tables.dead),
		topic, part, offset, key, value, reason, at, epochs)
}

// send inserts one columnar batch.
func (s *chSink) send(ctx context.Context, insert string, columns ...any) error {
	batch, err := s.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Close() }()
	for i, col := range columns {
		if err := batch.Column(i).Append(col); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return batch.Send()
}

// Drop forgets the buffered rows of revoked partitions (an insert already
// in flight goes on: its rows are valid and collapse with the next owner's).
func (s *chSink) Drop(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[int32]bool{}
	for _, p := range parts[s.rooms] {
		gone[p] = true
	}
	if len(gone) == 0 {
		return
	}
	s.buf.drop(gone)
	if s.failed != nil {
		s.failed.drop(gone)
	}
	// Only the delay metric keeps the times of dropped records.
	if s.buf.n() == 0 {
		s.buf.occurred = s.buf.occurred[:0]
	}
}

// Reset forgets everything buffered; it first lets an insert in flight end.
func (s *chSink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *chSink) resetLocked() {
	if s.inflight != nil {
		<-s.inflight
	}
	s.inflight, s.sending, s.failed = nil, nil, nil
	s.buf = chRows{}
	s.epochKnown, s.stale = false, false
}

func filter[T any](xs []T, keep func(T) bool) []T {
	out := xs[:0]
	for _, x := range xs {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}
