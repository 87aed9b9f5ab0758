package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// The consumer loop against kfake, franz-go's in-process Kafka: where a
// session resumes, how it retries and restarts, when buffered records are
// flushed, and the positions it reports. A sink kept in memory stands in for
// the stores.

// memSink stores records in memory. Apply makes them durable at once, or,
// with buffer set, buffers them until Flush (due buffer after the first).
type memSink struct {
	mu        sync.Mutex
	pos       map[TP]int64 // the stored positions: next offset per partition
	durable   []Record
	buffered  []Record
	buffer    time.Duration
	first     time.Time
	applyErrs []error // returned by the next Applies, in order
	flushes   int
	empty     int // Applies without records
	resets    int
	resumes   int
	verifies  int
	verifyErr error // returned by the next Verify
	flushErr  error // returned by the next Flush, which then stores nothing
	flushCtx  error // the context's error seen by the last Flush
}

func newMemSink(pos map[TP]int64) *memSink {
	if pos == nil {
		pos = map[TP]int64{}
	}
	return &memSink{pos: pos}
}

func (s *memSink) Resume(_ context.Context, parts map[string][]int32) (map[string]map[int32]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumes++
	out := map[string]map[int32]int64{}
	for t, ps := range parts {
		for _, p := range ps {
			if off, ok := s.pos[TP{t, p}]; ok {
				if out[t] == nil {
					out[t] = map[int32]int64{}
				}
				out[t][p] = off
			}
		}
	}
	return out, nil
}

func (s *memSink) store(recs []Record) {
	s.durable = append(s.durable, recs...)
	for _, r := range recs {
		s.pos[TP{r.Topic, r.Partition}] = r.Offset + 1
	}
}

func (s *memSink) Apply(_ context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(recs) == 0 {
		s.empty++
	}
	if len(s.applyErrs) > 0 {
		err := s.applyErrs[0]
		s.applyErrs = s.applyErrs[1:]
		return err
	}
	if s.buffer == 0 {
		s.store(recs)
		return nil
	}
	if len(s.buffered) == 0 {
		s.first = time.Now()
	}
	s.buffered = append(s.buffered, recs...)
	return nil
}

func (s *memSink) Pending() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buffered) == 0 {
		return 0, time.Time{}
	}
	return len(s.buffered), s.first.Add(s.buffer)
}

func (s *memSink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	s.flushCtx = ctx.Err()
	if err := s.flushErr; err != nil {
		s.flushErr = nil
		return err
	}
	s.store(s.buffered)
	s.buffered = nil
	return nil
}

func (s *memSink) Drop(parts map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buffered = slices.DeleteFunc(s.buffered, func(r Record) bool { return slices.Contains(parts[r.Topic], r.Partition) })
}

func (s *memSink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resets++
	s.buffered = nil
}

// offsets lists the durable offsets of a partition, in the order stored.
func (s *memSink) offsets(tp TP) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for _, r := range s.durable {
		if r.Topic == tp.Topic && r.Partition == tp.Partition {
			out = append(out, r.Offset)
		}
	}
	return out
}

func (s *memSink) count(f *int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *f
}

// verifyingSink is a memSink that can check its store while quiet.
type verifyingSink struct{ *memSink }

func (s verifyingSink) Verify(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verifies++
	err := s.verifyErr
	s.verifyErr = nil
	return err
}

// syncingSink is a memSink whose Flush only starts what Sync finishes.
type syncingSink struct {
	*memSink
	syncs int
}

func (s *syncingSink) Sync(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.syncs++
	return nil
}

// recObserver records what the loop reports.
type recObserver struct {
	mu       sync.Mutex
	errors   map[string]int
	hwm      map[TP]int64
	consumed map[TP]int64
	applied  int
	// calls to Applied and Consumed
	appliedCalls, consumedCalls int
}

func newRecObserver() *recObserver {
	return &recObserver{errors: map[string]int{}, hwm: map[TP]int64{}, consumed: map[TP]int64{}}
}

func (o *recObserver) Applied(recs []Record, hwm map[TP]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.applied += len(recs)
	o.appliedCalls++
	maps.Copy(o.hwm, hwm)
}

func (o *recObserver) Error(kind string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errors[kind]++
}

func (o *recObserver) Consumed(next map[TP]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.consumedCalls++
	maps.Copy(o.consumed, next)
}

func (o *recObserver) snapshot() (errs map[string]int, hwm, consumed map[TP]int64, applied int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.errors), maps.Clone(o.hwm), maps.Clone(o.consumed), o.applied
}

const loopTopic = "rooms"

// newLog starts a kfake cluster with a 2-partition topic holding n[p]
// records in partition p (the fourth of each is poison), and returns the
// client options to reach it.
func newLog(t *testing.T, n map[int32]int) []kgo.Opt {
	t.Helper()
	values := map[int32][][]byte{}
	for p := int32(0); p < 2; p++ {
		for i := range n[p] {
			values[p] = append(values[p], recordValue(t, p, i))
		}
	}
	return newLogOf(t, values)
}

// newLogOf starts a kfake cluster with a 2-partition topic holding values[p]
// in partition p, in order.
func newLogOf(t *testing.T, values map[int32][][]byte) []kgo.Opt {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, loopTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := testOpts(c)
	cl, err := kgo.NewClient(append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := int32(0); p < 2; p++ {
		for _, v := range values[p] {
			recs = append(recs, &kgo.Record{Topic: loopTopic, Partition: p, Value: v})
		}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return opts
}

// testOpts reach the cluster; a fetch waits at most 50 ms for records, so
// that a partition assigned while a fetch waits joins the next one soon.
func testOpts(c *kfake.Cluster) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.FetchMaxWait(50 * time.Millisecond)}
}

func recordValue(t *testing.T, p int32, i int) []byte {
	t.Helper()
	if i%4 == 3 {
		return []byte("poison")
	}
	v, err := schemas.Events.Encode(schemas.Envelope{ID: schemas.ID(1000*int(p) + i + 1), RoomID: schemas.ID(p + 1), Seq: int64(i + 1),
		OccurredAt: time.UnixMilli(1795000000000), Payload: schemas.RoomApproved{}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// runFeed runs Run in the background; stop cancels it and returns its
// result.
func runFeed(t *testing.T, cfg Config, sink Sink) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, sink) }()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Run did not return after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func span(from, to int64) []int64 {
	var out []int64
	for o := from; o < to; o++ {
		out = append(out, o)
	}
	return out
}

func TestRunResumesFromTheStore(t *testing.T) {
	for _, group := range []string{"", "projector-test"} {
		name := "direct"
		if group != "" {
			name = "group"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := newLog(t, map[int32]int{0: 6, 1: 4})
			p0, p1 := TP{loopTopic, 0}, TP{loopTopic, 1}
			sink := newMemSink(map[TP]int64{p0: 3})
			obs := newRecObserver()
			stop := runFeed(t, Config{Opts: opts, Group: group, Topics: []string{loopTopic}, Observer: obs}, sink)
			waitFor(t, "every record", func() bool { return len(sink.offsets(p0)) >= 3 && len(sink.offsets(p1)) >= 4 })
			if err := stop(); err != nil {
				t.Fatalf("Run = %v after its context ended, want nil", err)
			}
			if got := sink.offsets(p0); !slices.Equal(got, span(3, 6)) {
				t.Errorf("partition 0 stored offsets %v, want 3..5 (resumed at the stored 3)", got)
			}
			if got := sink.offsets(p1); !slices.Equal(got, span(0, 4)) {
				t.Errorf("partition 1 stored offsets %v, want 0..3 (nothing stored: from the start)", got)
			}
			for _, r := range sink.durable {
				if poison := r.Offset%4 == 3; (r.Err != nil) != poison {
					t.Errorf("%d/%d: err %v, poison %v", r.Partition, r.Offset, r.Err, poison)
				}
			}
			_, hwm, consumed, applied := obs.snapshot()
			want := map[TP]int64{p0: 6, p1: 4}
			if !maps.Equal(hwm, want) || !maps.Equal(consumed, want) || applied != 7 {
				t.Errorf("observed high watermarks %v, consumed %v, %d applied; want %v, %v, 7", hwm, consumed, applied, want, want)
			}
		})
	}
}

func TestRunRetriesAndRestarts(t *testing.T) {
	down := errors.New("store down")
	tests := []struct {
		name        string
		applyErrs   []error
		wantErrors  map[string]int
		wantResets  int
		wantResumes int
	}{
		{"a failed Apply is retried with the same records", []error{down, down}, map[string]int{"apply": 2}, 1, 1},
		{"ErrRestart starts a new session from the store", []error{ErrRestart}, map[string]int{}, 2, 2},
		{"a restart wrapped in context is one too", []error{fmt.Errorf("apply: %w", ErrRestart)}, map[string]int{}, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := newLog(t, map[int32]int{0: 5})
			p0 := TP{loopTopic, 0}
			sink := newMemSink(nil)
			sink.applyErrs = slices.Clone(tt.applyErrs)
			obs := newRecObserver()
			stop := runFeed(t, Config{Opts: opts, Topics: []string{loopTopic}, Observer: obs}, sink)
			waitFor(t, "every record", func() bool { return len(sink.offsets(p0)) >= 5 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := sink.offsets(p0); !slices.Equal(got, span(0, 5)) {
				t.Errorf("stored offsets %v, want each of 0..4 once", got)
			}
			errs, _, _, _ := obs.snapshot()
			if !maps.Equal(errs, tt.wantErrors) {
				t.Errorf("errors observed %v, want %v", errs, tt.wantErrors)
			}
			if r, m := sink.count(&sink.resets), sink.count(&sink.resumes); r != tt.wantResets || m != tt.wantResumes {
				t.Errorf("%d sessions reset, %d resumes; want %d, %d", r, m, tt.wantResets, tt.wantResumes)
			}
		})
	}
}

// TestRunFlushes: buffered records are flushed once MaxPoll of them wait,
// or when they are due, and on shutdown.
func TestRunFlushes(t *testing.T) {
	tests := []struct {
		name    string
		records int
		maxPoll int
		buffer  time.Duration
		// flushed: the records are durable while Run runs; otherwise only
		// once it stopped.
		flushed     bool
		wantFlushes func(int) bool
	}{
		{"by count", 6, 2, time.Hour, true, func(n int) bool { return n >= 3 }},
		{"when due", 2, 100, 30 * time.Millisecond, true, func(n int) bool { return n >= 1 }},
		{"on shutdown, by default not before 500", 3, 0, time.Hour, false, func(n int) bool { return n == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := newLog(t, map[int32]int{0: tt.records})
			p0 := TP{loopTopic, 0}
			sink := newMemSink(nil)
			sink.buffer = tt.buffer
			stop := runFeed(t, Config{Opts: opts, Topics: []string{loopTopic}, MaxPoll: tt.maxPoll}, sink)
			if tt.flushed {
				waitFor(t, "the records flushed", func() bool { return len(sink.offsets(p0)) == tt.records })
			} else {
				waitFor(t, "the records buffered", func() bool { n, _ := sink.Pending(); return n == tt.records })
				time.Sleep(100 * time.Millisecond) // a few idle polls
				if got := sink.offsets(p0); len(got) != 0 {
					t.Fatalf("flushed %v before shutdown", got)
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := sink.offsets(p0); !slices.Equal(got, span(0, int64(tt.records))) {
				t.Errorf("stored offsets %v, want 0..%d", got, tt.records-1)
			}
			if n := sink.count(&sink.flushes); !tt.wantFlushes(n) {
				t.Errorf("%d flushes", n)
			}
		})
	}
}

// TestRunIdle: Idle is called after a poll that found nothing, not while
// records arrive; such a poll hands the sink nothing to apply.
func TestRunIdle(t *testing.T) {
	t.Parallel()
	opts := newLog(t, map[int32]int{0: 3})
	sink := newMemSink(nil)
	var mu sync.Mutex
	var idleAt []int // records stored at each Idle call
	idle := func() {
		n := len(sink.offsets(TP{loopTopic, 0}))
		mu.Lock()
		idleAt = append(idleAt, n)
		mu.Unlock()
	}
	stop := runFeed(t, Config{Opts: opts, Topics: []string{loopTopic}, Idle: idle, IdleAfter: 20 * time.Millisecond}, sink)
	waitFor(t, "two idle calls", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(idleAt) >= 2 && idleAt[len(idleAt)-1] == 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := sink.count(&sink.empty); n != 0 {
		t.Errorf("%d Applies without records", n)
	}
}

// TestRunVerifiesWhileQuiet: a sink that can verify its store is asked to
// after verifyEvery without records; ErrRestart starts a new session.
func TestRunVerifiesWhileQuiet(t *testing.T) {
	t.Parallel()
	opts := newLog(t, map[int32]int{0: 2})
	sink := verifyingSink{newMemSink(nil)}
	sink.verifyErr = ErrRestart
	stop := runFeed(t, Config{Opts: opts, Topics: []string{loopTopic}}, sink)
	waitFor(t, "the records", func() bool { return len(sink.offsets(TP{loopTopic, 0})) == 2 })
	start := time.Now()
	waitFor(t, "a restart asked by Verify", func() bool { return sink.count(&sink.resets) == 2 })
	if took := time.Since(start); took < verifyEvery/2 {
		t.Errorf("verified after %s of quiet, want about %s", took, verifyEvery)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if v := sink.count(&sink.verifies); v != 1 {
		t.Errorf("%d verifications, want 1", v)
	}
	if got := sink.offsets(TP{loopTopic, 0}); !slices.Equal(got, span(0, 2)) {
		t.Errorf("stored offsets %v, want 0..1 once", got)
	}
}

// TestRunPositionsPastTransactionMarkers: a transactional partition ends
// with a commit marker; the consumed position reaches past it, though no
// record is there.
func TestRunPositionsPastTransactionMarkers(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, loopTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := testOpts(c)
	cl, err := kgo.NewClient(append(opts, kgo.TransactionalID("feed-test"))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := cl.ProduceSync(t.Context(), &kgo.Record{Topic: loopTopic, Value: recordValue(t, 0, i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(t.Context(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	p0 := TP{loopTopic, 0}
	sink := newMemSink(nil)
	obs := newRecObserver()
	stop := runFeed(t, Config{Opts: opts, Topics: []string{loopTopic}, Observer: obs}, sink)
	waitFor(t, "the position past the marker", func() bool {
		_, _, consumed, _ := obs.snapshot()
		return consumed[p0] == 4
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := sink.offsets(p0); !slices.Equal(got, span(0, 3)) {
		t.Errorf("stored offsets %v, want the 3 records, not the marker", got)
	}
}

func TestRunNeedsTopics(t *testing.T) {
	if err := Run(t.Context(), Config{}, newMemSink(nil)); err == nil {
		t.Fatal("Run without topics did not fail")
	}
}

// TestPollSize: a poll takes what MaxPoll leaves beside the buffered
// records, and at least one (zero would mean no limit to PollRecords).
func TestPollSize(t *testing.T) {
	for _, tt := range []struct{ maxPoll, n, want int }{
		{500, 0, 500}, {5, 2, 3}, {5, 4, 1}, {5, 5, 1}, {5, 7, 1},
	} {
		if got := pollSize(tt.maxPoll, tt.n); got != tt.want {
			t.Errorf("pollSize(%d, %d buffered) = %d, want %d", tt.maxPoll, tt.n, got, tt.want)
		}
	}
}

// TestVerifyNow: a quiet verifying sink checks its store once verifyEvery
// has passed, not before.
func TestVerifyNow(t *testing.T) {
	last := time.Unix(1795000000, 0)
	for _, tt := range []struct {
		quiet time.Duration
		want  bool
	}{
		{0, false}, {verifyEvery - time.Nanosecond, false}, {verifyEvery, true}, {verifyEvery + time.Nanosecond, true},
	} {
		if got := verifyNow(last, last.Add(tt.quiet)); got != tt.want {
			t.Errorf("verifyNow after %s quiet = %v, want %v", tt.quiet, got, tt.want)
		}
	}
}

// TestFlushNow: buffered records are flushed once MaxPoll of them wait or
// once they are due (at the due time itself, not after), and an empty
// buffer never is.
func TestFlushNow(t *testing.T) {
	now := time.Unix(1795000000, 0)
	for _, tt := range []struct {
		name string
		n    int
		due  time.Time
		want bool
	}{
		{"nothing buffered", 0, time.Time{}, false},
		{"nothing buffered, past a due time", 0, now.Add(-time.Second), false},
		{"fewer than MaxPoll, not due", 9, now.Add(time.Nanosecond), false},
		{"MaxPoll, not due", 10, now.Add(time.Hour), true},
		{"more than MaxPoll, not due", 11, now.Add(time.Hour), true},
		{"one, due now", 1, now, true},
		{"one, overdue", 1, now.Add(-time.Nanosecond), true},
	} {
		if got := flushNow(tt.n, tt.due, now, 10); got != tt.want {
			t.Errorf("%s: flushNow = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestReport: a poll with records or high watermarks is reported, and its
// consumed positions if there are any; an empty poll (its deadline passed)
// reports nothing.
func TestReport(t *testing.T) {
	tp := TP{loopTopic, 0}
	recs := []Record{{Topic: loopTopic, Offset: 4}}
	for _, tt := range []struct {
		name          string
		recs          []Record
		hwm, consumed map[TP]int64
		applied, cons int // calls
	}{
		{"an empty poll", nil, map[TP]int64{}, map[TP]int64{}, 0, 0},
		{"records", recs, map[TP]int64{tp: 9}, map[TP]int64{tp: 5}, 1, 1},
		{"records without a high watermark", recs, nil, map[TP]int64{tp: 5}, 1, 1},
		{"only a high watermark", nil, map[TP]int64{tp: 9}, nil, 1, 0},
		{"only a transaction marker", nil, map[TP]int64{tp: 9}, map[TP]int64{tp: 6}, 1, 1},
	} {
		o := newRecObserver()
		report(o, tt.recs, tt.hwm, tt.consumed)
		if o.appliedCalls != tt.applied || o.consumedCalls != tt.cons {
			t.Errorf("%s: %d Applied and %d Consumed calls, want %d and %d", tt.name, o.appliedCalls, o.consumedCalls, tt.applied, tt.cons)
		}
	}
	report(nil, recs, map[TP]int64{tp: 9}, map[TP]int64{tp: 5}) // no observer: must not panic
}

// TestFlushOnExit: on shutdown buffered records get a last Flush (and a
// syncing sink its Sync, even with nothing buffered) under a context that
// is not the ended one; a failure is logged, a restart is not.
func TestFlushOnExit(t *testing.T) {
	down := errors.New("store down")
	for _, tt := range []struct {
		name           string
		buffered       int
		syncer         bool
		flushErr       error
		flushes, syncs int
		warned         bool
	}{
		{"nothing buffered", 0, false, nil, 0, 0, false},
		{"buffered records", 2, false, nil, 1, 0, false},
		{"a syncing sink with nothing buffered", 0, true, nil, 1, 1, false},
		{"a syncing sink with buffered records", 2, true, nil, 1, 1, false},
		{"a failed flush is not synced", 2, true, down, 1, 0, true},
		{"a restart is no failure", 2, false, ErrRestart, 1, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMemSink(nil)
			mem.buffer = time.Hour
			mem.flushErr = tt.flushErr
			for i := range tt.buffered {
				mem.buffered = append(mem.buffered, Record{Topic: loopTopic, Offset: int64(i)})
			}
			var sink Sink = mem
			syncing := &syncingSink{memSink: mem}
			if tt.syncer {
				sink = syncing
			}
			var log strings.Builder
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			flushOnExit(ctx, Config{Log: slog.New(slog.NewTextHandler(&log, nil))}, sink)
			if mem.flushes != tt.flushes || syncing.syncs != tt.syncs {
				t.Errorf("%d flushes, %d syncs; want %d, %d", mem.flushes, syncing.syncs, tt.flushes, tt.syncs)
			}
			if mem.flushes > 0 && mem.flushCtx != nil {
				t.Errorf("Flush ran under an ended context: %v", mem.flushCtx)
			}
			if warned := strings.Contains(log.String(), "final flush failed"); warned != tt.warned {
				t.Errorf("warned %v, want %v; log: %s", warned, tt.warned, log.String())
			}
		})
	}
}

// TestRetryLogsAttempts: each failure is logged with its attempt number,
// counting from 1, and counted by kind.
func TestRetryLogsAttempts(t *testing.T) {
	var log strings.Builder
	obs := newRecObserver()
	cfg := Config{Log: slog.New(slog.NewTextHandler(&log, nil)), Observer: obs}
	calls := 0
	err := retry(t.Context(), cfg, "apply", func() error {
		if calls++; calls < 3 {
			return errors.New("store down")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("retry = %v after %d calls, want nil after 3", err, calls)
	}
	for _, want := range []string{"attempt=1", "attempt=2"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %s: %s", want, log.String())
		}
	}
	if errs, _, _, _ := obs.snapshot(); errs["apply"] != 2 {
		t.Errorf("errors observed %v, want 2 apply", errs)
	}
}
