package realtime

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// The pure logic of a partition reader (readers.go): what one poll's
// records give each resume joined to it. No Kafka: the polls are built by
// hand, the reader's goroutine never runs.

func testReader(t *testing.T) *partReader {
	t.Helper()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{Rules: testRules{}}, m: m, log: slog.New(slog.DiscardHandler)}
	s.readers = newReaders(s)
	r := newPartReader(s, 0)
	s.readers.byPart[0] = r
	return r
}

// logRec is one record of a hand-built poll: an event of room at offset.
type logRec struct {
	offset int64
	room   schemas.ID
	seq    int64
}

func poll(t *testing.T, recs ...logRec) kgo.Fetches {
	t.Helper()
	var out []*kgo.Record
	for _, r := range recs {
		b, err := schemas.Events.Encode(msgEnv(r.room, r.seq, "hi"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &kgo.Record{Key: schemas.Key(r.room), Value: b, Offset: r.offset})
	}
	return fetchesOf(out...)
}

func fetchesOf(recs ...*kgo.Record) kgo.Fetches {
	return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "rooms", Partitions: []kgo.FetchPartition{{Partition: 0, Records: recs}}}}}}
}

func takeNow(t *testing.T, sub *resumeSub) ([]*frame, int, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing to wait for: the reader polled already
	frames, empty, err := sub.take(ctx)
	if errors.Is(err, context.Canceled) {
		t.Fatal("take found nothing to take")
	}
	return frames, empty, err
}

// TestReaderServesEveryRoomOfItsPartition: one poll serves the resumes of
// several rooms, each its own room's events after its own last seq, in
// order; two resumes of one room share each rendered frame.
func TestReaderServesEveryRoomOfItsPartition(t *testing.T) {
	const a, b, c = schemas.ID(11), schemas.ID(12), schemas.ID(13)
	r := testReader(t)
	subA := r.add(a, 0, 0, true)
	subB := r.add(b, 1, 0, true)
	subA2 := r.add(a, 3, 0, true)
	r.deliver(context.Background(), poll(t,
		logRec{0, a, 1}, logRec{1, b, 1}, logRec{2, a, 2}, logRec{3, c, 1}, logRec{4, b, 2},
		logRec{5, a, 3}, logRec{6, b, 3}, logRec{7, a, 4}, logRec{8, a, 5}, logRec{9, c, 2},
	))
	fa, _, errA := takeNow(t, subA)
	fb, _, errB := takeNow(t, subB)
	fa2, _, errA2 := takeNow(t, subA2)
	if errA != nil || errB != nil || errA2 != nil {
		t.Fatal(errA, errB, errA2)
	}
	for _, tt := range []struct {
		who  string
		got  []int64
		want []int64
	}{{"room a from 0", seqs(fa), []int64{1, 2, 3, 4, 5}}, {"room b from 1", seqs(fb), []int64{2, 3}}, {"room a from 3", seqs(fa2), []int64{4, 5}}} {
		if !equal(tt.got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.who, tt.got, tt.want)
		}
	}
	if len(fa2) == 2 && (fa[3] != fa2[0] || fa[4] != fa2[1]) {
		t.Error("two resumes of one room got separately rendered frames")
	}
	if got := testutil.ToFloat64(r.s.m.readerRecords); got != 10 {
		t.Errorf("records counted %v, want 10", got)
	}
	// Again, a replay of the same records (the reader went back for
	// another resume): nothing twice.
	r.deliver(context.Background(), poll(t, logRec{0, a, 1}, logRec{2, a, 2}, logRec{5, a, 3}, logRec{7, a, 4}, logRec{8, a, 5}, logRec{10, a, 6}))
	fa, _, _ = takeNow(t, subA)
	if !equal(seqs(fa), []int64{6}) {
		t.Errorf("after a replay: %v, want [6]", seqs(fa))
	}
}

// TestReaderJudgesEachResumeAlone: a wrong located offset is one resume's
// error, not its neighbours'; a gap after an anchored start is delivered
// across and counted.
func TestReaderJudgesEachResumeAlone(t *testing.T) {
	const a, b = schemas.ID(21), schemas.ID(22)
	r := testReader(t)
	located := r.add(a, 3, 100, false) // the locator said 100; seq 4 is not there
	anchored := r.add(b, 0, 0, true)
	r.deliver(context.Background(), poll(t, logRec{100, a, 6}, logRec{101, b, 1}, logRec{102, b, 3}, logRec{103, a, 7}))
	frames, _, err := takeNow(t, located)
	if !errors.Is(err, errLocatedTooLate) || len(frames) != 0 {
		t.Fatalf("located too late: frames %v, err %v", seqs(frames), err)
	}
	frames, _, err = takeNow(t, anchored)
	if err != nil || !equal(seqs(frames), []int64{1, 3}) {
		t.Fatalf("anchored: frames %v, err %v", seqs(frames), err)
	}
	if got := testutil.ToFloat64(r.s.m.gaps); got != 1 {
		t.Fatalf("gaps %v, want 1", got)
	}

	// Seeing seq 4 or below first anchors a located resume: a later jump
	// is a gap, not a wrong offset.
	r2 := testReader(t)
	sub := r2.add(a, 3, 50, false)
	r2.deliver(context.Background(), poll(t, logRec{50, a, 3}, logRec{51, a, 5}))
	if frames, _, err := takeNow(t, sub); err != nil || !equal(seqs(frames), []int64{5}) {
		t.Fatalf("anchored by seq 3: frames %v, err %v", seqs(frames), err)
	}
}

// TestReaderUnknownEvent: an event of the room this build does not know,
// above what the resume has, stops that resume (delivering what follows
// would skip it); one at or below its last seq, or of another room, does
// not.
func TestReaderUnknownEvent(t *testing.T) {
	const a, b = schemas.ID(31), schemas.ID(32)
	known, err := schemas.Events.Encode(msgEnv(a, 2, "hi"))
	if err != nil {
		t.Fatal(err)
	}
	unknown := bytes.Replace(known, []byte(`"`+string(schemas.TypeMessageSent)+`"`), []byte(`"room.from_the_future"`), 1)
	if bytes.Equal(unknown, known) {
		t.Fatal("the type was not replaced")
	}
	if _, err := schemas.Events.Decode(unknown); !errors.Is(err, schemas.ErrUnknownEvent) {
		t.Fatalf("decode: %v", err)
	}
	r := testReader(t)
	behind := r.add(a, 1, 0, true)
	ahead := r.add(a, 2, 0, true)
	other := r.add(b, 0, 0, true)
	b1, _ := schemas.Events.Encode(msgEnv(b, 1, "hi"))
	r.deliver(context.Background(), fetchesOf(
		&kgo.Record{Key: schemas.Key(a), Value: unknown, Offset: 0},
		&kgo.Record{Key: schemas.Key(b), Value: b1, Offset: 1},
	))
	if _, _, err := takeNow(t, behind); !errors.Is(err, errUnknownEvent) {
		t.Errorf("the resume that needs seq 2: %v, want errUnknownEvent", err)
	}
	if _, _, err := takeNow(t, ahead); err != nil {
		t.Errorf("the resume that has seq 2: %v", err)
	}
	if frames, _, err := takeNow(t, other); err != nil || !equal(seqs(frames), []int64{1}) {
		t.Errorf("the other room: %v, %v", seqs(frames), err)
	}
}

// TestReaderPausesAFullResume: the reader never waits for a resume. One
// whose buffer is full is paused at the first record it missed; its take
// asks the reader to go back there, and the replay continues it without a
// gap or a duplicate.
func TestReaderPausesAFullResume(t *testing.T) {
	const a = schemas.ID(41)
	r := testReader(t)
	sub := r.add(a, 0, 0, true)
	n := resumeBuffer + 10
	recs := make([]logRec, n)
	for i := range recs {
		recs[i] = logRec{int64(100 + i), a, int64(i + 1)}
	}
	r.pos = 0
	r.seekTo = -1
	r.deliver(context.Background(), poll(t, recs...))
	r.mu.Lock()
	paused, next := sub.paused, sub.next
	r.mu.Unlock()
	if !paused || next != int64(100+resumeBuffer) {
		t.Fatalf("paused %v at %d, want at %d", paused, next, 100+resumeBuffer)
	}
	frames, _, err := takeNow(t, sub)
	if err != nil || len(frames) != resumeBuffer || frames[resumeBuffer-1].seq != resumeBuffer {
		t.Fatalf("took %d frames, err %v", len(frames), err)
	}
	r.mu.Lock()
	seek := r.seekTo
	r.mu.Unlock()
	if seek != next {
		t.Fatalf("the reader was asked back to %d, want %d", seek, next)
	}
	r.deliver(context.Background(), poll(t, recs[resumeBuffer-5:]...)) // a replay from a little before
	frames, _, err = takeNow(t, sub)
	want := make([]int64, 0, 10)
	for s := resumeBuffer + 1; s <= n; s++ {
		want = append(want, int64(s))
	}
	if err != nil || !equal(seqs(frames), want) {
		t.Fatalf("after the replay: %v, err %v", seqs(frames), err)
	}
}

// TestReaderStallsAndJoins: polls that found nothing count towards a
// resume's stall, a poll that a join or a leave interrupted does not; a
// join below the reader's position sends it back, one ahead does not; the
// last leave leaves the reader idle.
func TestReaderStallsAndJoins(t *testing.T) {
	const a, b = schemas.ID(51), schemas.ID(52)
	r := testReader(t)
	sub := r.add(a, 0, 0, true)
	r.mu.Lock()
	r.pos, r.seekTo = 500, -1
	r.mu.Unlock()
	for range 3 {
		r.deliver(context.Background(), kgo.Fetches{})
	}
	if _, empty, _ := takeNow(t, sub); empty != 3 {
		t.Fatalf("empty polls %d, want 3", empty)
	}
	kicked := false
	r.mu.Lock()
	r.kick = func() { kicked = true }
	r.mu.Unlock()

	ahead := r.add(b, 0, 600, false)
	if kicked || r.seekTo != 600 {
		t.Fatalf("a join ahead of the reader: kicked %v, seekTo %d", kicked, r.seekTo)
	}
	behind := r.add(b, 0, 200, false)
	if !kicked || r.seekTo != 200 {
		t.Fatalf("a join behind the reader: kicked %v, seekTo %d", kicked, r.seekTo)
	}
	r.deliver(context.Background(), kgo.Fetches{}) // interrupted by the join: nothing to take
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := sub.take(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted poll woke the resume: %v", err)
	}
	r.kicked = false
	r.deliver(context.Background(), kgo.Fetches{})
	if _, empty, _ := takeNow(t, sub); empty != 4 {
		t.Fatalf("empty polls %d, want 4 (the interrupted one not counted)", empty)
	}
	r.deliver(context.Background(), poll(t, logRec{200, b, 1}))
	if _, empty, _ := takeNow(t, sub); empty != 0 {
		t.Fatalf("a poll with records did not reset the count: %d", empty)
	}
	for _, s := range []*resumeSub{ahead, sub} {
		s.leave()
		if r.exitIfIdle() {
			t.Fatal("the reader went idle with resumes left")
		}
	}
	behind.leave()
	behind.leave() // idempotent
	if got := testutil.ToFloat64(r.s.m.resumeSubs); got != 0 {
		t.Fatalf("resumes joined %v after every leave", got)
	}
	if !r.exitIfIdle() || r.s.readers.byPart[0] != nil {
		t.Fatal("the reader did not end with its last resume")
	}
}

// TestReaderWaitsOnlyWhenNoResumeHasRoom: the reader skips polling while
// every resume is paused or holds half a buffer its catch-up has not taken,
// and polls again as soon as one has room.
func TestReaderWaitsOnlyWhenNoResumeHasRoom(t *testing.T) {
	const a, b = schemas.ID(61), schemas.ID(62)
	r := testReader(t)
	fill := func(sub *resumeSub, n int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		sub.frames = make([]*frame, n)
		for i := range sub.frames {
			sub.frames[i] = &frame{seq: int64(i + 1)}
		}
	}
	waiting := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.waitingLocked()
	}
	if waiting() {
		t.Fatal("a reader without resumes waits (it should end)")
	}
	subA := r.add(a, 0, 0, true)
	subB := r.add(b, 0, 0, true)
	r.mu.Lock()
	r.seekTo = -1
	r.mu.Unlock()
	fill(subA, resumeBuffer/2)
	if waiting() {
		t.Fatal("waits while b has room")
	}
	fill(subB, resumeBuffer/2)
	if !waiting() {
		t.Fatal("polls while no resume has room")
	}
	if _, _, err := takeNow(t, subB); err != nil {
		t.Fatal(err)
	}
	if waiting() {
		t.Fatal("waits after b took its frames")
	}
	r.mu.Lock()
	subB.paused, subB.next = true, 7
	r.mu.Unlock()
	if !waiting() {
		t.Fatal("polls for a paused resume and a full one")
	}
	r.mu.Lock()
	r.seekTo = 7
	r.mu.Unlock()
	if waiting() {
		t.Fatal("waits with a seek pending")
	}
}

// TestReaderPastAResumesStartWaitsForItsSeek: a resume joins a reader that
// already read past the resume's start. What the reader fetched from there
// on (a poll in flight when the join kicked it) is not the resume's: an
// anchored resume would take a later seq for a gap in the log and skip the
// seqs before it (the chaos suite's kafka-restart: "seq 18 after 0"). It
// takes its records once the reader moved back.
func TestReaderPastAResumesStartWaitsForItsSeek(t *testing.T) {
	const a = schemas.ID(31)
	r := testReader(t)
	r.mu.Lock()
	r.pos = 200 // the reader is at 200 for another resume
	r.mu.Unlock()
	sub := r.add(a, 0, 0, true)
	r.deliver(context.Background(), poll(t, logRec{200, a, 18}, logRec{201, a, 19}))
	r.mu.Lock()
	got, polled, err := seqs(sub.frames), sub.polled, sub.err
	seek := r.nextSeekLocked()
	r.mu.Unlock()
	if len(got) != 0 || polled || err != nil {
		t.Fatalf("before the reader moved back: frames %v, polled %v, err %v; want nothing", got, polled, err)
	}
	if seek != 0 {
		t.Fatalf("the reader moves back to %d, want 0", seek)
	}
	r.deliver(context.Background(), poll(t, logRec{0, a, 1}, logRec{1, a, 2}))
	frames, _, err := takeNow(t, sub)
	if err != nil || !equal(seqs(frames), []int64{1, 2}) {
		t.Fatalf("after the reader moved back: frames %v, err %v; want [1 2]", seqs(frames), err)
	}
	if g := testutil.ToFloat64(r.s.m.gaps); g != 0 {
		t.Fatalf("gaps %v, want 0", g)
	}
}
