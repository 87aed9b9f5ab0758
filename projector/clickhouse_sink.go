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

	"happychat/internal/msgkeys"
	"happychat/projector/internal/feed"
	"happychat/schemas"
)

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
	// keys opens sealed texts (docs/adr/0009): the history stores them
	// in the clear until the message is deleted, then erases them.
	keys *msgkeys.Reader

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
		return s.swappedLocked(live)
	}
	return nil
}

// swappedLocked is the answer to a new live epoch: a replay switched the
// history tables, so what is buffered belongs to the old ones and the
// consumer resumes from the new tables' positions.
func (s *chSink) swappedLocked(live uint64) error {
	s.log.Warn("the history tables were swapped by a replay: resuming from the new tables", "epoch", live)
	s.resetLocked()
	return feed.ErrRestart
}

// softenParallel is the batch size from which Apply softens messages on
// every CPU: the rules are pure, and a replay feeds 100k records at once.
const softenParallel = 2000

// Apply buffers the rows of recs; Flush inserts them.
func (s *chSink) Apply(ctx context.Context, recs []feed.Record) error {
	if err := s.open(ctx, recs); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	firstMsg, firstChange := len(s.buf.msgs), len(s.buf.changes)
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
			m := chMessage{
				roomID: uint64(env.RoomID), id: uint64(env.ID), seq: uint64(env.Seq), userID: uint64(env.UserID),
				nickname: p.Nickname, text: p.Text, cid: p.ClientMsgID, sentAt: env.OccurredAt,
				partition: uint32(r.Partition), offset: uint64(r.Offset),
			}
			if rt := p.ReplyTo; rt != nil {
				m.replyTo, m.replyUser, m.replyNickname = uint64(rt.MessageID), uint64(rt.UserID), rt.Nickname
				m.replyText, m.replyDeleted = rt.Preview, rt.Deleted
			}
			for _, u := range p.Mentions {
				m.mentions = append(m.mentions, uint64(u))
			}
			s.buf.msgs = append(s.buf.msgs, m)
		case schemas.MessageEdited, schemas.MessageDeleted, schemas.ReactionAdded, schemas.ReactionRemoved:
			s.change(r)
		case schemas.RoomCreated, schemas.RoomProposed, schemas.RoomApproved, schemas.RoomRejected, schemas.RoomJoined, schemas.RoomLeft,
			schemas.MemberRenamed, schemas.ConversationCreated, schemas.MemberAdded, schemas.InviteCreated,
			schemas.MemberRemoved, schemas.MemberBanned, schemas.MemberUnbanned, schemas.RoomClosed,
			schemas.BlockAdded, schemas.BlockRemoved, schemas.ReportFiled:
		case schemas.ReportResolved:
			if p.Erased {
				s.buf.released = append(s.buf.released, uint64(p.MessageID))
			}
		case schemas.ReadMarkMoved:
			// v2, level 5: in the events table like every room event, so
			// analysts have who read what when. A v1 (no seq) belongs on
			// the users topic.
			if env.Seq == 0 {
				s.deadLetter(r, fmt.Sprintf("event %s v1 does not belong on topic %s", env.Type, r.Topic))
				continue
			}
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
	s.softenChanges(s.buf.changes[firstChange:])
	return nil
}

// change buffers the rows of a message's change: a message_changes row, and
// for a delete the tombstone that replaces the messages row.
func (s *chSink) change(r *feed.Record) {
	env := r.Env
	c := chChange{roomID: uint64(env.RoomID), seq: uint64(env.Seq), userID: uint64(env.UserID), at: env.OccurredAt,
		partition: uint32(r.Partition), offset: uint64(r.Offset)}
	switch p := env.Payload.(type) {
	case schemas.MessageEdited:
		c.id, c.key, c.kind, c.text = uint64(p.MessageID), "text", "edited", p.Text
	case schemas.MessageDeleted:
		c.id, c.key, c.kind = uint64(p.MessageID), "text", "deleted"
		sentAt, _ := schemas.ParseTime(p.SentAt) // checked by Decode
		s.buf.erase = append(s.buf.erase, uint64(p.MessageID))
		s.buf.msgs = append(s.buf.msgs, chMessage{
			roomID: uint64(env.RoomID), id: uint64(p.MessageID), seq: uint64(p.MessageSeq), userID: uint64(p.AuthorID),
			nickname: p.Nickname, sentAt: sentAt, deleted: true, partition: uint32(r.Partition), offset: uint64(r.Offset),
		})
	case schemas.ReactionAdded:
		c.id, c.key, c.kind, c.emoji = uint64(p.MessageID), reactionKey(env.UserID, p.Emoji), "reaction_added", p.Emoji
	case schemas.ReactionRemoved:
		c.id, c.key, c.kind, c.emoji = uint64(p.MessageID), reactionKey(env.UserID, p.Emoji), "reaction_removed", p.Emoji
	}
	s.buf.changes = append(s.buf.changes, c)
}

// reactionKey is the message_changes key of a member's reaction.
func reactionKey(user schemas.ID, emoji string) string { return "r " + user.String() + " " + emoji }

// softenChanges fills in the body and effects of edits.
func (s *chSink) softenChanges(cs []chChange) {
	for i := range cs {
		if cs[i].kind == "edited" {
			cs[i].body, cs[i].effects = s.rules.Soften(cs[i].text), s.rules.Effects(cs[i].text)
		}
	}
}

// soften fills in the body and effects of msgs.
func (s *chSink) soften(msgs []chMessage) {
	one := func(part []chMessage) {
		for i := range part {
			if part[i].deleted {
				continue
			}
			part[i].body = s.rules.Soften(part[i].text)
			part[i].effects = s.rules.Effects(part[i].text)
		}
	}
	runs := softenRuns(len(msgs), runtime.GOMAXPROCS(0))
	if len(runs) == 1 {
		one(msgs)
		return
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		part := msgs[r[0]:r[1]]
		wg.Go(func() { one(part) })
	}
	wg.Wait()
}

// softenRuns splits n messages into the runs softened by one goroutine
// each (feed.Runs, the decoder's split).
func softenRuns(n, workers int) [][2]int { return feed.Runs(n, softenParallel, workers) }

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
		<-s.inflight //nolint:errcheck // the batch is dropped whatever its insert's outcome
	}
	s.inflight, s.sending, s.failed = nil, nil, nil
	s.buf = chRows{}
	s.epochKnown, s.stale = false, false
}
