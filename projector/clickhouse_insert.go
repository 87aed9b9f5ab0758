package projector

import (
	"context"
	"fmt"
	"time"
)

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
			return s.swappedLocked(live)
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
	if err := s.insertChanges(ctx, b.changes); err != nil {
		return fmt.Errorf("insert %d message changes: %w", len(b.changes), err)
	}
	// Before the index: a batch is done only once its texts are erased
	// (a retried batch erases again, harmlessly).
	erase, err := s.unheld(ctx, b.erase)
	if err != nil {
		return fmt.Errorf("read the holds of %d deleted messages: %w", len(b.erase), err)
	}
	if err := s.eraseTexts(ctx, append(erase, b.released...)); err != nil {
		return fmt.Errorf("erase %d deleted messages: %w", len(erase)+len(b.released), err)
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
		deleted, replyDeleted           = make([]uint8, n), make([]uint8, n)
		replyTo, replyUser              = make([]uint64, n), make([]uint64, n)
		replyNick, replyText            = make([]string, n), make([]string, n)
		mentions                        = make([][]uint64, n)
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
		deleted[i], replyDeleted[i] = boolByte(m.deleted), boolByte(m.replyDeleted)
		replyTo[i], replyUser[i], replyNick[i], replyText[i] = m.replyTo, m.replyUser, m.replyNickname, m.replyText
		mentions[i] = m.mentions
		if mentions[i] == nil {
			mentions[i] = []uint64{}
		}
	}
	return s.send(ctx, fmt.Sprintf(`INSERT INTO %s (room_id, id, seq, user_id, nickname, text, body, effects,
client_msg_id, sent_ms, sent_at, rules_version, partition, offset,
deleted, reply_to, reply_user, reply_nickname, reply_preview, reply_deleted, mentions)`, s.tables.messages),
		room, id, seq, user, nick, text, body, effects, cid, sentMs, sentAt, rulesVer, part, offset,
		deleted, replyTo, replyUser, replyNick, replyText, replyDeleted, mentions)
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func (s *chSink) insertChanges(ctx context.Context, cs []chChange) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	var (
		room, id, seq, user, offset  = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		key, kind, emoji, text, body = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		effects                      = make([][]string, n)
		atMs                         = make([]int64, n)
		part                         = make([]uint32, n)
	)
	for i, c := range cs {
		room[i], id[i], seq[i], user[i], offset[i] = c.roomID, c.id, c.seq, c.userID, c.offset
		key[i], kind[i], emoji[i], text[i], body[i] = c.key, c.kind, c.emoji, c.text, c.body
		effects[i] = c.effects
		if effects[i] == nil {
			effects[i] = []string{}
		}
		atMs[i], part[i] = c.at.UnixMilli(), c.partition
	}
	return s.send(ctx, fmt.Sprintf(`INSERT INTO %s (room_id, id, key, seq, kind, user_id, emoji, text, body, effects,
at_ms, partition, offset)`, s.tables.changes), room, id, key, seq, kind, user, emoji, text, body, effects, atMs, part, offset)
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
	bctx, release := batchContext(ctx)
	defer release()
	batch, err := s.conn.PrepareBatch(bctx, insert)
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
