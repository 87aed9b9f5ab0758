package projector

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// tracker follows a replay: it counts what the sink applied, tells when the
// end of the log is reached, and reports progress.
type tracker struct {
	cfg    ReplayConfig
	view   string
	topics []string
	start  time.Time
	events atomic.Int64

	mu      sync.Mutex
	target  map[feed.TP]int64 // end offsets when this phase started
	begin   map[feed.TP]int64 // start offsets
	running string            // the phase that reads the log
	pos     map[feed.TP]int64
	hwm     map[feed.TP]int64
	idle    int
	ph      string
	cancel  context.CancelFunc
	samples []sample
	// stopped is why the replay must fail: a partition met an event this
	// build does not know (the views would miss it).
	stopped error
}

type sample struct {
	at     time.Time
	events int64
}

func newTracker(ctx context.Context, cfg ReplayConfig, view string, topics []string) (*tracker, error) {
	t := &tracker{cfg: cfg, view: view, topics: topics, start: time.Now()}
	if err := t.retarget(ctx, "replaying"); err != nil {
		return nil, err
	}
	return t, nil
}

// retarget starts a phase that reads the log up to its end as of now.
func (t *tracker) retarget(ctx context.Context, phase string) error {
	end, err := feed.EndOffsets(ctx, t.cfg.Kafka, t.topics)
	if err != nil {
		return err
	}
	begin, err := feed.StartOffsets(ctx, t.cfg.Kafka, t.topics)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.target, t.begin, t.running, t.ph = end, begin, phase, phase
	t.pos, t.hwm, t.idle = map[feed.TP]int64{}, map[feed.TP]int64{}, 0
	t.mu.Unlock()
	return nil
}

// starts returns the first offset of every partition (where a replayed
// partition without records stands).
func (t *tracker) starts() map[feed.TP]int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[feed.TP]int64{}
	for tp, off := range t.begin {
		out[tp] = off
	}
	return out
}

// run consumes until the end of the log is reached.
func (t *tracker) run(ctx context.Context, fc feed.Config, sink feed.Sink) error {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t.mu.Lock()
	t.cancel = cancel
	t.mu.Unlock()
	fc.Observer = t
	fc.Idle = t.onIdle
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if t.cfg.Progress != nil {
		wg.Go(func() {
			tick := time.NewTicker(t.cfg.ProgressEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					t.cfg.Progress(t.snapshot())
				}
			}
		})
	}
	err := feed.Run(fctx, fc, &trackedSink{Sink: sink, t: t})
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped != nil {
		return t.stopped
	}
	return err
}

// Blocked implements feed.BlockObserver: a replay that cannot read an event
// fails rather than switch to views that miss it.
func (t *tracker) Blocked(b feed.Block) {
	t.mu.Lock()
	if t.stopped == nil {
		t.stopped = fmt.Errorf("%w: %s/%d at offset %d: %w", errReplayBlocked, b.Topic, b.Partition, b.Offset, b.Err)
	}
	t.mu.Unlock()
	t.finish()
}

// Unblocked implements feed.BlockObserver.
func (t *tracker) Unblocked([]feed.TP) {}

// Applied implements feed.Observer.
func (t *tracker) Applied(recs []feed.Record, hwm map[feed.TP]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, h := range hwm {
		t.hwm[tp] = h
	}
	if len(recs) > 0 {
		t.idle = 0
	}
}

// Consumed implements feed.PositionObserver: positions that include
// transaction markers, so a partition whose last offset is a commit marker
// is caught up once the marker has been read.
func (t *tracker) Consumed(next map[feed.TP]int64) {
	t.mu.Lock()
	for tp, off := range next {
		if off > t.pos[tp] {
			t.pos[tp] = off
		}
	}
	t.mu.Unlock()
	if t.caughtUp() {
		t.finish()
	}
}

// Error implements feed.Observer.
func (t *tracker) Error(string) {}

func (t *tracker) onIdle() {
	t.mu.Lock()
	t.idle++
	// Two quiet polls in a row: the end of the log (the last offsets of a
	// partition may be transaction markers, which never reach a consumer, so
	// positions alone cannot always tell).
	done := t.idle >= 2
	t.mu.Unlock()
	if done {
		t.finish()
	}
}

func (t *tracker) applied(recs []feed.Record) {
	t.events.Add(int64(len(recs)))
	t.mu.Lock()
	for i := range recs {
		t.pos[feed.TP{Topic: recs[i].Topic, Partition: recs[i].Partition}] = recs[i].Offset + 1
	}
	t.mu.Unlock()
	if t.caughtUp() {
		t.finish()
	}
}

func (t *tracker) caughtUp() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for tp, end := range t.target {
		if end > t.begin[tp] && t.pos[tp] < end {
			return false
		}
	}
	return true
}

func (t *tracker) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		t.cancel()
	}
}

func (t *tracker) phase(p string) {
	t.mu.Lock()
	t.ph = p
	t.mu.Unlock()
	if t.cfg.Progress != nil {
		t.cfg.Progress(t.snapshot())
	}
}

func (t *tracker) done() { t.phase("done") }

func (t *tracker) snapshot() ReplayProgress {
	now := time.Now()
	events := t.events.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	var target, lag int64
	for tp, end := range t.target {
		target += end - t.begin[tp]
		hw := max(end, t.hwm[tp])
		pos := max(t.pos[tp], t.begin[tp])
		lag += max(0, hw-pos)
	}
	t.samples = append(t.samples, sample{now, events})
	// The rate over the last ~3 s: recent enough to follow, smooth enough
	// to read.
	for len(t.samples) > 2 && now.Sub(t.samples[0].at) > 3*time.Second {
		t.samples = t.samples[1:]
	}
	var rate float64
	if first := t.samples[0]; now.Sub(first.at) > 0 {
		rate = float64(events-first.events) / now.Sub(first.at).Seconds()
	}
	var eta time.Duration
	if rate > 0 && t.ph == t.running {
		eta = time.Duration(float64(lag) / rate * float64(time.Second))
	}
	if t.ph != t.running {
		lag = 0
	}
	return ReplayProgress{View: t.view, Phase: t.ph, Events: events, Target: target, Lag: lag,
		Rate: rate, Elapsed: now.Sub(t.start), ETA: eta}
}

// trackedSink reports to the tracker what its sink made durable.
type trackedSink struct {
	feed.Sink
	t *tracker
}

// Resume notes where each partition starts: a partition that is already at
// its end is caught up without reading anything.
func (s *trackedSink) Resume(ctx context.Context, parts map[string][]int32) (map[string]map[int32]int64, error) {
	out, err := s.Sink.Resume(ctx, parts)
	if err != nil {
		return nil, err
	}
	s.t.mu.Lock()
	for topic, ps := range parts {
		for _, p := range ps {
			tp := feed.TP{Topic: topic, Partition: p}
			if off, ok := out[topic][p]; ok {
				s.t.pos[tp] = off
			} else {
				s.t.pos[tp] = s.t.begin[tp]
			}
		}
	}
	s.t.mu.Unlock()
	if s.t.caughtUp() {
		s.t.finish()
	}
	return out, nil
}

func (s *trackedSink) Apply(ctx context.Context, recs []feed.Record) error {
	if err := s.Sink.Apply(ctx, recs); err != nil {
		return err
	}
	s.t.applied(recs)
	return nil
}

// RoomSeq implements feed.RoomSeqs for the sink it wraps, so that a replay
// tells stale unknown events (poison) from a newer build's as the live
// projectors do.
func (s *trackedSink) RoomSeq(ctx context.Context, room schemas.ID) (int64, error) {
	if rs, ok := s.Sink.(feed.RoomSeqs); ok {
		return rs.RoomSeq(ctx, room)
	}
	return 0, nil
}
