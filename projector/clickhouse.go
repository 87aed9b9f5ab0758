package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// Rules soften message text and name its screen effects. They are pure and
// versioned: the same text and version always give the same result, and the
// version is stored with every message so that a replay under new rules is
// visible. *moderation.Rules implements it.
type Rules interface {
	Soften(text string) string
	Effects(text string) []string
	Version() string
}

// ClickHouseConfig configures the ClickHouse projector.
type ClickHouseConfig struct {
	// Conn is the ClickHouse database of the history (migrated: see Migrate).
	Conn driver.Conn
	// Names are the rooms topic and the consumer group.
	Names schemas.Names
	// Kafka are the base client options: seed brokers, logger, dialer.
	Kafka []kgo.Opt
	// InstanceID, if set, makes the group membership static.
	InstanceID string
	Rules      Rules
	// FlushRows and FlushInterval bound a batch: it is inserted when it
	// holds FlushRows records or its oldest record waited FlushInterval
	// (defaults 10000 and 200 ms).
	FlushRows     int
	FlushInterval time.Duration
	Log           *slog.Logger
	Metrics       prometheus.Registerer
	Registry      *schemas.Registry
}

func (c *ClickHouseConfig) setDefaults() {
	if c.FlushRows <= 0 {
		c.FlushRows = 10000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 200 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = schemas.Events
	}
}

// Validate reports every missing setting at once.
func (c ClickHouseConfig) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("clickhouse projector: Conn is required"))
	}
	if c.Names.Rooms == "" || c.Names.ProjectorClickHouseGroup == "" {
		errs = append(errs, errors.New("clickhouse projector: Names are required"))
	}
	if len(c.Kafka) == 0 {
		errs = append(errs, errors.New("clickhouse projector: Kafka options are required"))
	}
	if c.Rules == nil {
		errs = append(errs, errors.New("clickhouse projector: Rules are required"))
	}
	return errors.Join(errs...)
}

// ClickHouse projects the rooms topic into the message history (messages)
// and the room event index (room_events). See doc.go for how it stays exact.
type ClickHouse struct {
	cfg  ClickHouseConfig
	m    *metrics
	sink *chSink
}

const chProjectorName = "clickhouse"

// liveTables are the history tables queries read.
var liveTables = chTables{messages: "messages", events: "room_events", dead: "dead_letters"}

// NewClickHouse returns a projector; Run starts it.
func NewClickHouse(cfg ClickHouseConfig) (*ClickHouse, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := newMetrics(cfg.Metrics)
	s := &chSink{
		conn: cfg.Conn, rules: cfg.Rules, rooms: cfg.Names.Rooms, tables: liveTables,
		flushEvery: cfg.FlushInterval, log: cfg.Log.With("projector", chProjectorName), m: m, name: chProjectorName,
	}
	return &ClickHouse{cfg: cfg, m: m, sink: s}, nil
}

// Run checks the log's identity, then projects until ctx ends. It returns
// nil on cancellation; outages are retried, never fatal.
func (c *ClickHouse) Run(ctx context.Context) error {
	if err := retryUntil(ctx, c.cfg.Log, "check the log identity", func() error {
		return checkClickHouseIdentity(ctx, c.cfg.Conn, c.cfg.Kafka, c.cfg.Names.Rooms, c.cfg.Log)
	}); err != nil {
		return nil
	}
	return feed.Run(ctx, feed.Config{
		Opts:       c.cfg.Kafka,
		Group:      c.cfg.Names.ProjectorClickHouseGroup,
		InstanceID: c.cfg.InstanceID,
		Topics:     []string{c.cfg.Names.Rooms},
		MaxPoll:    c.cfg.FlushRows,
		Registry:   c.cfg.Registry,
		Log:        c.cfg.Log.With("projector", chProjectorName),
		Observer:   observer{c.m, chProjectorName},
	}, c.sink)
}

// Ping reports whether ClickHouse answers (for /readyz).
func (c *ClickHouse) Ping(ctx context.Context) error { return c.cfg.Conn.Ping(ctx) }

// checkClickHouseIdentity truncates the history when it was built from
// another log than the live rooms topic.
func checkClickHouseIdentity(ctx context.Context, conn driver.Conn, opts []kgo.Opt, topic string, log *slog.Logger) error {
	desc, err := feed.DescribeTopics(ctx, opts, []string{topic})
	if err != nil {
		return err
	}
	live := desc[topic].ID
	if live == "" {
		return nil
	}
	stored, ok, err := chReadMeta(ctx, conn, "topic_id/"+topic)
	if err != nil {
		return err
	}
	if ok && stored != live {
		log.Error("THE CLICKHOUSE HISTORY WAS BUILT FROM ANOTHER LOG: truncating it and rebuilding from offset 0",
			"topic", topic, "built_from", stored, "log", live)
		for _, t := range []string{liveTables.messages, liveTables.events, liveTables.dead} {
			if err := conn.Exec(ctx, "TRUNCATE TABLE "+t); err != nil {
				return fmt.Errorf("truncate %s: %w", t, err)
			}
		}
	}
	if !ok || stored != live {
		return chWriteMeta(ctx, conn, "topic_id/"+topic, live, uint64(time.Now().UnixNano()))
	}
	return nil
}

func chReadMeta(ctx context.Context, conn driver.Conn, key string) (string, bool, error) {
	rows, err := conn.Query(ctx, "SELECT value FROM projector_meta FINAL WHERE key = ?", key)
	if err != nil {
		return "", false, fmt.Errorf("read meta %s: %w", key, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return "", false, rows.Err()
	}
	var v string
	if err := rows.Scan(&v); err != nil {
		return "", false, err
	}
	return v, true, rows.Err()
}

func chWriteMeta(ctx context.Context, conn driver.Conn, key, value string, version uint64) error {
	if err := chInsertRow(ctx, conn, "INSERT INTO projector_meta (key, value, version)", key, value, version); err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}

// chInsertRow inserts one row through a batch: ClickHouse 18.16 does not
// answer an INSERT ... VALUES sent as a plain statement over the native
// protocol (the server waits for a data block), so every insert is a batch.
func chInsertRow(ctx context.Context, conn driver.Conn, insert string, values ...any) error {
	batch, err := conn.PrepareBatch(ctx, insert)
	if err != nil {
		return err
	}
	defer func() { _ = batch.Close() }()
	if err := batch.Append(values...); err != nil {
		return err
	}
	return batch.Send()
}

// chEpoch reads the generation of the live history tables (0 before any
// replay).
func chEpoch(ctx context.Context, conn driver.Conn) (uint64, error) {
	v, ok, err := chReadMeta(ctx, conn, "epoch")
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("meta epoch %q: %w", v, err)
	}
	return n, nil
}

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

// chSink buffers rows and inserts them in batches: messages and dead
// letters first, then the room event index that positions are read from, so
// that a crash in between only ever leaves rows that will be inserted again
// (and collapse), never an index row without its message.
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

	mu         sync.Mutex
	epoch      uint64
	epochKnown bool
	stale      bool
	msgs       []chMessage
	events     []chEvent
	dead       []chDead
	occurred   []time.Time
	first      time.Time
}

// pending counts buffered records: each gives one room_events row.
func (s *chSink) pending() int { return len(s.events) }

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

// Apply buffers the rows of recs; Flush inserts them.
func (s *chSink) Apply(_ context.Context, recs []feed.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range recs {
		r := &recs[i]
		if r.Topic != s.rooms {
			continue
		}
		if s.pending() == 0 {
			s.first = time.Now()
		}
		if r.Err != nil {
			s.deadLetter(r, r.Err.Error())
			continue
		}
		env := r.Env
		switch p := env.Payload.(type) {
		case schemas.MessageSent:
			s.msgs = append(s.msgs, chMessage{
				roomID: uint64(env.RoomID), id: uint64(env.ID), seq: uint64(env.Seq), userID: uint64(env.UserID),
				nickname: p.Nickname, text: p.Text, body: s.rules.Soften(p.Text), cid: p.ClientMsgID,
				effects: s.rules.Effects(p.Text), sentAt: env.OccurredAt,
				partition: uint32(r.Partition), offset: uint64(r.Offset),
			})
		case schemas.RoomCreated, schemas.RoomProposed, schemas.RoomApproved, schemas.RoomJoined, schemas.RoomLeft:
		default:
			s.deadLetter(r, fmt.Sprintf("event %s does not belong on topic %s", env.Type, r.Topic))
			continue
		}
		s.events = append(s.events, chEvent{
			roomID: uint64(env.RoomID), seq: uint64(env.Seq), id: uint64(env.ID), userID: uint64(env.UserID),
			typ: env.Type, at: env.OccurredAt, partition: uint32(r.Partition), offset: uint64(r.Offset),
		})
		s.occurred = append(s.occurred, env.OccurredAt)
	}
	return nil
}

func (s *chSink) deadLetter(r *feed.Record, reason string) {
	s.log.Warn("dead letter: record skipped", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "reason", reason)
	s.dead = append(s.dead, chDead{partition: uint32(r.Partition), offset: uint64(r.Offset),
		key: string(r.Key), value: string(r.Value), reason: reason})
	// The position index covers dead letters too, under room 0 (no room has
	// id 0) with a seq made unique from the record's place on the log.
	s.events = append(s.events, chEvent{
		seq: uint64(r.Partition)<<40 | uint64(r.Offset), typ: deadLetterType,
		at: time.Now().UTC().Truncate(time.Millisecond), partition: uint32(r.Partition), offset: uint64(r.Offset),
	})
}

// deadLetterType marks the room_events rows of dead letters (room_id 0).
const deadLetterType = "dead_letter"

func (s *chSink) Pending() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.pending()
	if n == 0 {
		return 0, time.Time{}
	}
	return n, s.first.Add(s.flushEvery)
}

// Flush inserts the buffered rows. A failed flush keeps them and is retried
// whole: rows inserted by a failed attempt collapse with the retry's.
func (s *chSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.pending()
	if n == 0 {
		return nil
	}
	start := time.Now()
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
	// room_events last: it is the position index.
	if err := s.insertMessages(ctx); err != nil {
		return fmt.Errorf("insert %d messages: %w", len(s.msgs), err)
	}
	if err := s.insertDead(ctx, epoch); err != nil {
		return fmt.Errorf("insert %d dead letters: %w", len(s.dead), err)
	}
	if err := s.insertEvents(ctx, epoch); err != nil {
		return fmt.Errorf("insert %d room events: %w", len(s.events), err)
	}
	if len(s.dead) > 0 {
		s.m.dead.WithLabelValues(s.name).Add(float64(len(s.dead)))
	}
	s.m.committed(s.name, n, s.occurred, time.Since(start))
	s.log.Debug("flushed", "records", n, "messages", len(s.msgs), "took", time.Since(start))
	s.clearLocked()
	return nil
}

func (s *chSink) insertMessages(ctx context.Context) error {
	if len(s.msgs) == 0 {
		return nil
	}
	n := len(s.msgs)
	var (
		room, id, seq, user, offset     = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		nick, text, body, cid, rulesVer = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		effects                         = make([][]string, n)
		sentMs                          = make([]int64, n)
		sentAt                          = make([]time.Time, n)
		part                            = make([]uint32, n)
	)
	version := s.rules.Version()
	for i, m := range s.msgs {
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

func (s *chSink) insertEvents(ctx context.Context, epoch uint64) error {
	if len(s.events) == 0 {
		return nil
	}
	n := len(s.events)
	var (
		room, seq, id, user, offset, epochs = make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n), make([]uint64, n)
		typ                                 = make([]string, n)
		ms                                  = make([]int64, n)
		at                                  = make([]time.Time, n)
		part                                = make([]uint32, n)
	)
	for i, e := range s.events {
		room[i], seq[i], id[i], user[i], offset[i], epochs[i] = e.roomID, e.seq, e.id, e.userID, e.offset, epoch
		typ[i], ms[i], at[i], part[i] = e.typ, e.at.UnixMilli(), e.at, e.partition
	}
	return s.send(ctx, fmt.Sprintf(`INSERT INTO %s (room_id, seq, id, type, user_id, occurred_ms, occurred_at,
partition, offset, epoch)`, s.tables.events), room, seq, id, typ, user, ms, at, part, offset, epochs)
}

func (s *chSink) insertDead(ctx context.Context, epoch uint64) error {
	if len(s.dead) == 0 {
		return nil
	}
	n := len(s.dead)
	topic, key, value, reason := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	part, offset, epochs := make([]uint32, n), make([]uint64, n), make([]uint64, n)
	at := make([]time.Time, n)
	now := time.Now()
	for i, d := range s.dead {
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

func (s *chSink) Drop(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[int32]bool{}
	for _, p := range parts[s.rooms] {
		gone[p] = true
	}
	if len(gone) == 0 || s.pending() == 0 {
		return
	}
	// The rows are filtered exactly; only the delay metric keeps the times
	// of dropped records.
	s.msgs = filter(s.msgs, func(m chMessage) bool { return !gone[int32(m.partition)] })
	s.events = filter(s.events, func(e chEvent) bool { return !gone[int32(e.partition)] })
	s.dead = filter(s.dead, func(d chDead) bool { return !gone[int32(d.partition)] })
	if s.pending() == 0 {
		s.occurred = s.occurred[:0]
	}
}

func (s *chSink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *chSink) resetLocked() {
	s.clearLocked()
	s.epochKnown, s.stale = false, false
}

func (s *chSink) clearLocked() {
	s.msgs, s.events, s.dead, s.occurred = s.msgs[:0], s.events[:0], s.dead[:0], s.occurred[:0]
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
