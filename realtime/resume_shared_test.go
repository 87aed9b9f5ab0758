package realtime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/schemas"
)

// Many members resuming at once in rooms of one partition share one reader
// of that partition (readers.go): one Kafka client, the partition read
// once, and each socket still gets its room's events exactly once, in
// order, then the live ones. Each resume starts at its own room's first
// event (a locator that knows the offsets), so the reader has to begin at
// the lowest of them.
//
// The reader's first poll waits until every resume has joined (a test
// seam): otherwise a fast resume could finish before a slow handshake
// starts and the next resume would rightly open a reader of its own, and
// the count would depend on timing.
func TestConcurrentResumesShareOneReader(t *testing.T) {
	e := newEnv(t, 2)
	const rooms, perRoom, backlog, later = 6, 2, 300, 5
	loc := &firstEventLocator{cmds: e.cmds}
	gate := make(chan struct{})
	var release sync.Once
	in := e.start(func(c *Config) {
		c.Locator = loc
		c.RecentEvents = 8
		c.SendQueue = 4 * backlog // no catch-up waits for its socket's queue
		c.hooks.readerOpened = func(int32) { <-gate }
	})
	t.Cleanup(func() { release.Do(func() { close(gate) }) })

	// The rooms on partition 0, their events interleaved on it; a busy room
	// on partition 1 that no one resumes.
	ids := make([]schemas.ID, rooms)
	members := make([][]user, rooms)
	for i := range ids {
		ids[i] = e.cmds.createRoomOn(0)
		for j := range perRoom {
			members[i] = append(members[i], e.member(ids[i], fmt.Sprintf("m%d-%d", i, j)))
		}
	}
	elsewhere := e.cmds.createRoomOn(1)
	poster := e.member(elsewhere, "poster")
	for round := range 3 {
		for i, id := range ids {
			e.cmds.postMany(id, members[i][0].id, backlog/3, func(k int) string { return fmt.Sprintf("r%d %d", round, k) })
		}
		e.cmds.postMany(elsewhere, poster.id, backlog, func(k int) string { return fmt.Sprint(k) })
	}
	heads := make([]int64, rooms)
	var onPartition int64
	for i, id := range ids {
		heads[i] = e.cmds.head(id)
		onPartition += heads[i]
	}

	type socket struct {
		c    *client
		room int
	}
	// Dialled from the last room to the first, so that later resumes start
	// below the reader's position and move it back.
	var sockets []socket
	for i := rooms - 1; i >= 0; i-- {
		for _, u := range members[i] {
			sockets = append(sockets, socket{in.dial(t, ids[i], u.tok, 0), i})
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for testutil.ToFloat64(in.svc.m.resumeSubs) < float64(len(sockets)) {
		if time.Now().After(deadline) {
			t.Fatalf("%v of %d resumes joined a reader", testutil.ToFloat64(in.svc.m.resumeSubs), len(sockets))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(in.svc.m.readersOpen); got != 1 {
		t.Fatalf("%d resumes on one partition: %v readers open, want 1", len(sockets), got)
	}
	release.Do(func() { close(gate) })

	for _, s := range sockets {
		s.c.presence()
		events, _ := s.c.eventsUntil(heads[s.room], 60*time.Second)
		checkContiguous(t, fmt.Sprintf("a resume in room %d", s.room), events, 1, heads[s.room])
	}
	// Live now: what follows comes from the tail, once.
	for i, id := range ids {
		e.cmds.postMany(id, members[i][1].id, later, func(k int) string { return fmt.Sprint("live ", k) })
	}
	for _, s := range sockets {
		events, _ := s.c.eventsUntil(heads[s.room]+later, 30*time.Second)
		checkContiguous(t, fmt.Sprintf("live events in room %d", s.room), events, heads[s.room]+1, heads[s.room]+later)
	}

	m := in.svc.m
	if got := testutil.ToFloat64(m.readersOpened); got != 1 {
		t.Errorf("Kafka clients opened for %d resumes: %v, want 1", len(sockets), got)
	}
	// One pass over partition 0 at most (N readers would read it N
	// times), and nothing of partition 1.
	if got := testutil.ToFloat64(m.readerRecords); got > float64(onPartition) || got < float64(heads[0]) {
		t.Errorf("records read by the reader: %v, want between %d and the partition's %d", got, heads[0], onPartition)
	}
	if got := testutil.ToFloat64(m.resumes.WithLabelValues("log")); got != float64(len(sockets)) {
		t.Errorf("resumes from the log: %v, want %d", got, len(sockets))
	}
	if loc.calls() < len(sockets) {
		t.Errorf("the locator was asked %d times for %d resumes", loc.calls(), len(sockets))
	}
	if got := testutil.ToFloat64(m.gaps); got != 0 {
		t.Errorf("seq gaps = %v", got)
	}
	// Every resume has left; the reader closes with the last.
	deadline = time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(m.readersOpen) != 0 || testutil.ToFloat64(m.resumeSubs) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("readers open %v, resumes joined %v after every resume went live",
				testutil.ToFloat64(m.readersOpen), testutil.ToFloat64(m.resumeSubs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// firstEventLocator locates every resume at its room's first event, from
// the offsets the fake command service logged: what the ClickHouse locator
// answers for since_seq=0.
type firstEventLocator struct {
	cmds *fakeCommands
	mu   sync.Mutex
	n    int
}

func (l *firstEventLocator) Locate(_ context.Context, room schemas.ID, _ int32, after int64) (int64, bool, error) {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	ev, ok := l.cmds.logged(room)[after+1]
	if !ok {
		return 0, false, nil
	}
	return ev.offset, true, nil
}

func (l *firstEventLocator) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Resumes of backlogs larger than a reader's buffer for one resume, each
// room's events in one block of the partition: whether a resume is paused
// and taken up again where it stopped (the reader going back for it) or
// keeps up, every socket gets everything once, in order. The log line says
// how often the reader went back (TestReaderPausesAFullResume holds the
// pause itself).
func TestLargeResumesShareAReader(t *testing.T) {
	e := newEnv(t, 1)
	const rooms, backlog = 3, 3 * resumeBuffer
	gate := make(chan struct{})
	var release sync.Once
	in := e.start(func(c *Config) {
		c.Locator = &firstEventLocator{cmds: e.cmds}
		c.RecentEvents = 8
		c.hooks.readerOpened = func(int32) { <-gate }
	})
	t.Cleanup(func() { release.Do(func() { close(gate) }) })
	ids := make([]schemas.ID, rooms)
	users := make([]user, rooms)
	heads := make([]int64, rooms)
	for i := range ids {
		ids[i] = e.cmds.createRoom()
		users[i] = e.member(ids[i], "m")
		e.cmds.postMany(ids[i], users[i].id, backlog, func(k int) string { return fmt.Sprint(k) })
		heads[i] = e.cmds.head(ids[i])
	}
	clients := make([]*client, rooms)
	for i := range ids {
		clients[i] = in.dial(t, ids[i], users[i].tok, 0)
	}
	deadline := time.Now().Add(60 * time.Second)
	for testutil.ToFloat64(in.svc.m.resumeSubs) < rooms {
		if time.Now().After(deadline) {
			t.Fatal("the resumes did not all join a reader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	release.Do(func() { close(gate) })
	// Read all sockets at once, as clients do.
	var wg sync.WaitGroup
	got := make([][]int64, rooms)
	errs := make([]error, rooms)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(60 * time.Second)
			for lastSeen := int64(0); lastSeen < heads[i]; {
				f, err := c.read(time.Until(deadline))
				if err != nil {
					errs[i] = fmt.Errorf("after seq %d: %w", lastSeen, err)
					return
				}
				if seq := f.EventSeq(); seq > 0 {
					got[i] = append(got[i], seq)
					lastSeen = seq
				}
			}
		}()
	}
	wg.Wait()
	for i := range clients {
		if errs[i] != nil {
			t.Fatalf("room %d: %v", i, errs[i])
		}
		if n := int64(len(got[i])); n != heads[i] || got[i][0] != 1 || got[i][n-1] != heads[i] {
			t.Fatalf("room %d: %d events, want 1..%d", i, n, heads[i])
		}
		for k, seq := range got[i] {
			if seq != int64(k+1) {
				t.Fatalf("room %d: event %d has seq %d", i, k, seq)
			}
		}
	}
	m := in.svc.m
	t.Logf("seeks %v, records read %v, readers opened %v, yields %v", testutil.ToFloat64(m.readerSeeks),
		testutil.ToFloat64(m.readerRecords), testutil.ToFloat64(m.readersOpened), testutil.ToFloat64(m.yields))
	if got := testutil.ToFloat64(m.gaps); got != 0 {
		t.Errorf("seq gaps = %v", got)
	}
}
