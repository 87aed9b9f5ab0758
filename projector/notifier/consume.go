package notifier

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// pollEvery bounds how long a poll waits for records, so that windows
// close on time when the topic is quiet.
const pollEvery = 200 * time.Millisecond

// pushers is how many pushes go out at once.
const pushers = 8

// consumed is a record read, and when its pushes are all done: the end of
// the window it may have opened (every window closes within Window of the
// records in it).
type consumed struct {
	rec  *kgo.Record
	done time.Time
}

// consume runs the group consumer: read, decide, gather, push, mark.
// Offsets are committed (kgo's autocommit of marked records, and on a
// revoke) only for records whose pushes are done; a record read again (a
// crash before the commit, a rebalance) is stopped by the watermarks. A new
// group starts MaxAge back, so that no message sent while it first joins is
// missed, nor an old one pushed.
func (s *Service) consume(ctx context.Context) error {
	cl, err := kgo.NewClient(slices.Concat(s.cfg.Kafka, []kgo.Opt{
		kgo.ClientID("happychat-notifier"),
		kgo.ConsumerGroup(s.cfg.Names.NotifierGroup),
		kgo.ConsumeTopics(s.cfg.Names.Rooms),
		kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(time.Now().Add(-s.cfg.MaxAge).UnixMilli())),
		kgo.AutoCommitMarks(),
		// Pushes are seconds-scale; a fetch per committed transaction only
		// cost the broker requests. The mute of a room just joined waits
		// for the room's position (X-Happychat-Position), not for this.
		kgo.FetchMinBytes(64 << 10),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { s.consuming.Store(true) }),
	})...)
	if err != nil {
		return err
	}
	defer func() {
		// Commit what is done before leaving the group.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = cl.CommitMarkedOffsets(cctx)
		cl.Close()
	}()
	coal := newCoalescer(s.cfg.Window)
	var queue []consumed
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, pollEvery)
		fetches := cl.PollFetches(pctx)
		cancel()
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				s.log.Warn("notifier: fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		recs := fetches.Records()
		now := time.Now()
		if err := s.admit(ctx, coal, recs, now); err != nil {
			return err
		}
		for _, rec := range recs {
			queue = append(queue, consumed{rec: rec, done: now.Add(s.cfg.Window)})
		}
		now = time.Now()
		s.flush(ctx, coal.due(now))
		n := 0
		for n < len(queue) && !queue[n].done.After(now) {
			cl.MarkCommitRecords(queue[n].rec)
			n++
		}
		queue = slices.Delete(queue, 0, n)
	}
	// What is gathered but not pushed is dropped: its records are not
	// marked, so the next owner reads them again.
	return nil
}

// admit reads a poll's records: each message.sent recent enough is
// gathered for each member to be pushed. Other events, and records this
// build cannot read, are passed over (the notifier never stops a partition:
// the views' projector is where a bad record is noticed). The poll's
// messages share their queries: one wait for the views of their rooms, one
// read of their recipients, one opening of the texts to push (three
// queries a message before, two when nobody was pushed: 2 000 a second at
// 1 000 sends/s, issue 16). It fails only when ctx ends while PostgreSQL
// is down.
func (s *Service) admit(ctx context.Context, coal *coalescer, recs []*kgo.Record, now time.Time) error {
	type read struct {
		m   message
		env schemas.Envelope
	}
	var msgs []read
	for _, rec := range recs {
		if env, ok := s.messageSent(rec, now); ok {
			sent := env.Payload.(schemas.MessageSent)
			msgs = append(msgs, read{env: env, m: message{room: env.RoomID, id: env.ID, seq: env.Seq, sender: env.UserID,
				nickname: sent.Nickname, mentions: sent.Mentions, sentAt: env.OccurredAt}})
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	need := map[schemas.ID]int64{}
	pairs := map[roomSender]struct{}{}
	for _, r := range msgs {
		need[r.m.room] = max(need[r.m.room], r.m.seq)
		pairs[roomSender{r.m.room, r.m.sender}] = struct{}{}
	}
	titles, err := s.viewsAt(ctx, need)
	if err != nil {
		return err
	}
	var rs map[roomSender][]recipient
	if err := s.retryStore(ctx, func() (err error) {
		rs, err = s.recipients(ctx, pairs)
		return err
	}); err != nil {
		return err
	}
	// Only the texts of messages someone is pushed are opened (a query to
	// the key store otherwise, issue 16), all of the poll's in one.
	var pushed []read
	var users [][]schemas.ID
	for _, r := range msgs {
		r.m.roomTitle = titles[r.m.room]
		us := decide(r.m, rs[roomSender{r.m.room, r.m.sender}])
		s.log.Debug("notifier: message read", "room", r.m.room, "seq", r.m.seq, "to_push", len(us))
		if len(us) > 0 {
			pushed, users = append(pushed, r), append(users, us)
		}
	}
	if len(pushed) == 0 {
		return nil
	}
	envs := make([]schemas.Envelope, len(pushed))
	for i, r := range pushed {
		envs[i] = r.env
	}
	if err := s.retryStore(ctx, func() error { return s.texts.Open(ctx, envs) }); err != nil {
		return err
	}
	for i, r := range pushed {
		sent := envs[i].Payload.(schemas.MessageSent)
		if sent.Erased {
			// Deleted before its push went out: nothing to say.
			s.metrics.skipped.WithLabelValues("deleted").Inc()
			continue
		}
		m := r.m
		m.text = s.cfg.Rules.Soften(sent.Text)
		for _, u := range users[i] {
			coal.add(u, m, now)
		}
	}
	return nil
}

// messageSent decodes rec if it is a message.sent recent enough to push.
func (s *Service) messageSent(rec *kgo.Record, now time.Time) (schemas.Envelope, bool) {
	if !isMessageSent(rec) {
		return schemas.Envelope{}, false
	}
	env, err := schemas.Events.Decode(rec.Value)
	if err != nil {
		s.log.Warn("notifier: record not read", "partition", rec.Partition, "offset", rec.Offset, "err", err)
		return schemas.Envelope{}, false
	}
	if _, ok := env.Payload.(schemas.MessageSent); !ok {
		return schemas.Envelope{}, false
	}
	if now.Sub(env.OccurredAt) > s.cfg.MaxAge {
		s.metrics.skipped.WithLabelValues("too_old").Inc()
		return schemas.Envelope{}, false
	}
	return env, true
}

// isMessageSent reports whether rec may be a message.sent: by its type
// header, or, without one (records of builds before the header named the
// type), by decoding.
func isMessageSent(rec *kgo.Record) bool {
	for _, h := range rec.Headers {
		if h.Key == schemas.HeaderType && len(h.Value) > 0 {
			return string(h.Value) == schemas.TypeMessageSent
		}
	}
	return true
}

// viewWait bounds how long a message waits for the views to show its room
// at its seq; past it, the members the views show are pushed.
const viewWait = 10 * time.Second

// viewsAt waits until the views (the PostgreSQL projector) have applied
// each room up to its seq in need, so that the members read next are those
// of the messages' time (a join just before them included), and returns the
// rooms' titles. Past viewWait the views are taken as they are.
func (s *Service) viewsAt(ctx context.Context, need map[schemas.ID]int64) (map[schemas.ID]string, error) {
	deadline := time.Now().Add(viewWait)
	titles := make(map[schemas.ID]string, len(need))
	waiting := slices.Collect(maps.Keys(need))
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		var views map[schemas.ID]roomView
		if err := s.retryStore(ctx, func() (err error) {
			views, err = s.roomsAt(ctx, waiting)
			return err
		}); err != nil {
			return nil, err
		}
		behind := waiting[:0]
		for _, r := range waiting {
			v := views[r] // a room not in the views yet: no title, seq 0
			titles[r] = v.title
			if v.seq < need[r] {
				behind = append(behind, r)
			}
		}
		if len(behind) == 0 {
			return titles, nil
		}
		if time.Now().After(deadline) {
			s.log.Warn("notifier: the views are behind the rooms topic; pushing to the members they show",
				"rooms", len(behind), "room", behind[0], "seq", need[behind[0]], "view_seq", views[behind[0]].seq)
			return titles, nil
		}
		waiting = behind
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// retryStore runs f until it succeeds or ctx ends: PostgreSQL down delays
// the pushes, it does not lose them.
func (s *Service) retryStore(ctx context.Context, f func() error) error {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := f()
		if err == nil {
			return nil
		}
		s.log.Warn("notifier: PostgreSQL failed, retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// flush sends the pushes whose windows closed, a few at a time, and
// returns when all are done.
func (s *Service) flush(ctx context.Context, due []pending) {
	sem := make(chan struct{}, pushers)
	var wg sync.WaitGroup
	for _, p := range due {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.notify(ctx, p)
		})
	}
	wg.Wait()
}

// notify pushes p to every subscription of its user, once: it first moves
// the (user, room) watermark to p's message, and pushes only if it moved
// (another instance, or this one before a restart, may have pushed it).
func (s *Service) notify(ctx context.Context, p pending) {
	claimed, err := s.claim(ctx, p.user, p.room, p.latest.seq)
	s.log.Debug("notifier: push", "user", p.user, "room", p.room, "seq", p.latest.seq, "count", p.count, "claimed", claimed, "err", err)
	if err != nil || !claimed {
		if err != nil {
			s.log.Warn("notifier: watermark not moved; push dropped", "user", p.user, "room", p.room, "err", err)
		}
		return
	}
	subs, err := s.subscriptionsOf(ctx, p.user)
	if err != nil {
		s.log.Warn("notifier: subscriptions not read; push dropped", "user", p.user, "err", err)
		return
	}
	body, err := schemas.Marshal(payloadOf(p))
	if err != nil {
		s.log.Error("notifier: payload", "err", err)
		return
	}
	for _, sub := range subs {
		if s.pushTo(ctx, sub, p.room, body, p.mention) == gone {
			if err := s.dropEndpoint(ctx, sub.Endpoint); err != nil {
				s.log.Warn("notifier: gone subscription not dropped", "err", err)
			}
		}
	}
}
