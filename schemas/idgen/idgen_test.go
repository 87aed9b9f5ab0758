package idgen

import (
	"errors"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"happychat/schemas"

	"github.com/bwmarrin/snowflake"
)

// testClock is a wall clock the test moves by hand; it is safe for
// concurrent use, as WithClock requires.
type testClock struct{ ms atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) now() time.Time      { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) set(t time.Time)     { c.ms.Store(t.UnixMilli()) }
func (c *testClock) add(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// clockStart is a wall-clock time in the id range, on a millisecond.
var clockStart = time.Date(2026, 11, 22, 21, 21, 13, 123_000_000, time.UTC)

// checkNode fails unless id carries node, read with bwmarrin/snowflake's own
// accessor so that the test does not share the generator's arithmetic.
func checkNode(t *testing.T, id schemas.ID, node int64) {
	t.Helper()
	if got := snowflake.ID(id).Node(); got != node {
		t.Fatalf("id %d carries node %d, want %d", id, got, node)
	}
}

func mustNext(t *testing.T, g *Gen) schemas.ID {
	t.Helper()
	id, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNewIDGenNodeRange(t *testing.T) {
	for _, node := range []int64{-1, 1024, 1 << 20} {
		if _, err := New(node); err == nil {
			t.Errorf("node %d accepted", node)
		}
	}
	for _, node := range []int64{0, schemas.MaxRoomPartitions - 1, schemas.InstanceNodeBase, schemas.InstanceNodeBase + schemas.MaxInstanceID} {
		g, err := New(node)
		if err != nil {
			t.Fatalf("node %d: %v", node, err)
		}
		id := mustNext(t, g)
		checkNode(t, id, node)
		if id <= 0 {
			t.Errorf("node %d: id %d is not positive", node, id)
		}
	}
}

// TestIDGenFrozenClock: a clock that does not move gets strictly increasing
// ids anyway; past 4096 ids the generator runs into later milliseconds
// instead of sleeping.
func TestIDGenFrozenClock(t *testing.T) {
	clock := newTestClock(clockStart)
	g, err := New(5, WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	prev := schemas.ID(0)
	for range n {
		id := mustNext(t, g)
		if id <= prev {
			t.Fatalf("id %d after %d", id, prev)
		}
		checkNode(t, id, 5)
		prev = id
	}
	steps := int64(1) << snowflake.StepBits
	wantAhead := time.Duration((n-1)/steps) * time.Millisecond
	if got := schemas.IDTime(prev).Sub(clockStart); got != wantAhead {
		t.Errorf("last id is %v after the clock, want %v", got, wantAhead)
	}
	if got := g.Ahead(); got != wantAhead {
		t.Errorf("Ahead = %v, want %v", got, wantAhead)
	}
	clock.add(time.Second)
	if got := g.Ahead(); got != 0 {
		t.Errorf("Ahead = %v once the clock passed, want 0", got)
	}
	if id := mustNext(t, g); !schemas.IDTime(id).Equal(clock.now()) {
		t.Errorf("id time %v, want the clock's %v", schemas.IDTime(id), clock.now())
	}
}

// TestIDGenFloorFromAnyNode: the first id is the smallest id of the
// generator's node above the floor, whichever node minted the floor.
func TestIDGenFloorFromAnyNode(t *testing.T) {
	const node = 300
	ms := clockStart.UnixMilli() - snowflake.Epoch
	lastStep := int64(1)<<snowflake.StepBits - 1
	cases := []struct {
		name  string
		floor schemas.ID
		want  schemas.ID
	}{
		{"higher node, same ms", schemas.JoinID(ms, 700, 5), schemas.JoinID(ms+1, node, 0)},
		{"higher node, last step", schemas.JoinID(ms, 1023, lastStep), schemas.JoinID(ms+1, node, 0)},
		{"lower node, same ms", schemas.JoinID(ms, 12, 4000), schemas.JoinID(ms, node, 0)},
		{"lower node, step 0", schemas.JoinID(ms, 0, 0), schemas.JoinID(ms, node, 0)},
		{"same node", schemas.JoinID(ms, node, 7), schemas.JoinID(ms, node, 8)},
		{"same node, last step", schemas.JoinID(ms, node, lastStep), schemas.JoinID(ms+1, node, 0)},
		{"higher node, 3 ms ahead", schemas.JoinID(ms+3, 301, 0), schemas.JoinID(ms+4, node, 0)},
		{"lower node, 3 ms ahead", schemas.JoinID(ms+3, 299, lastStep), schemas.JoinID(ms+3, node, 0)},
		{"higher node, behind the clock", schemas.JoinID(ms-10, 1000, 9), schemas.JoinID(ms, node, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := New(node, WithClock(newTestClock(clockStart).now))
			if err != nil {
				t.Fatal(err)
			}
			g.Observe(c.floor)
			g.Observe(c.floor - 1000) // a lower observation never lowers the floor
			id := mustNext(t, g)
			if id != c.want {
				fm, fn, fs := schemas.SplitID(c.floor)
				gm, gn, gs := schemas.SplitID(id)
				t.Fatalf("floor (ms %d, node %d, step %d): Next = (ms %d, node %d, step %d), want %d",
					fm, fn, fs, gm, gn, gs, c.want)
			}
			if id <= c.floor {
				t.Fatalf("Next = %d, not above the floor %d", id, c.floor)
			}
			checkNode(t, id, node)
		})
	}
}

// TestIDGenLaggingClock: a new owner whose clock is 5 s behind the previous
// owner's gets ids above the previous owner's at once, runs ahead of its own
// clock while it lags, and follows its clock again once it has passed.
func TestIDGenLaggingClock(t *testing.T) {
	clock := newTestClock(clockStart)
	g, err := New(3, WithClock(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	floorMs := clockStart.Add(5*time.Second).UnixMilli() - snowflake.Epoch
	floor := schemas.JoinID(floorMs, 900, 17) // the previous owner's last id
	g.Observe(floor)

	prev := floor
	next := func() schemas.ID {
		t.Helper()
		id := mustNext(t, g)
		if id <= prev {
			t.Fatalf("id %d not above %d", id, prev)
		}
		checkNode(t, id, 3)
		prev = id
		return id
	}
	// 10,000 ids while the clock lags: they stay near the floor's millisecond
	// (a new millisecond per 4096 ids), not at the clock's.
	for range 10_000 {
		next()
	}
	runAhead := schemas.IDTime(prev)
	if want := schemas.IDTime(floor).Add(3 * time.Millisecond); runAhead.After(want) {
		t.Errorf("ids ran to %v, further than needed (%v)", runAhead, want)
	}
	if got, want := g.Ahead(), runAhead.Sub(clock.now()); got != want || got < 5*time.Second {
		t.Errorf("Ahead = %v, want %v (at least 5s)", got, want)
	}

	// The clock moves but still lags: ids keep running ahead.
	clock.add(3 * time.Second)
	if id := next(); schemas.IDTime(id).Before(runAhead) {
		t.Errorf("id time %v went back from %v", schemas.IDTime(id), runAhead)
	}
	if got := g.Ahead(); got < 2*time.Second {
		t.Errorf("Ahead = %v with the clock 2 s behind, want at least 2s", got)
	}

	// The clock passes the run-ahead point: ids follow it again.
	clock.set(runAhead.Add(time.Second))
	for range 3 {
		id := next()
		if !schemas.IDTime(id).Equal(clock.now()) {
			t.Errorf("id time %v, want the clock's %v", schemas.IDTime(id), clock.now())
		}
		clock.add(time.Millisecond)
	}
	if got := g.Ahead(); got != 0 {
		t.Errorf("Ahead = %v once the clock passed, want 0", got)
	}
}

// TestIDGenOverflow: past the layout's 41 bits of milliseconds Next fails
// rather than wrap around; the last millisecond itself is still used.
func TestIDGenOverflow(t *testing.T) {
	lastMs := int64(1)<<(63-snowflake.NodeBits-snowflake.StepBits) - 1
	cases := []struct {
		name  string
		floor schemas.ID
		want  schemas.ID // 0: errOverflow
	}{
		{"last millisecond", schemas.JoinID(lastMs, 0, 0), schemas.JoinID(lastMs, 1, 0)},
		{"above the largest id", math.MaxInt64, 0},
	}
	for _, c := range cases {
		g, err := New(1)
		if err != nil {
			t.Fatal(err)
		}
		g.Observe(c.floor)
		id, err := g.Next()
		if c.want == 0 {
			if !errors.Is(err, errOverflow) {
				t.Errorf("%s: Next = %d, %v; want errOverflow", c.name, id, err)
			}
			continue
		}
		if err != nil || id != c.want {
			t.Errorf("%s: Next = %d, %v; want %d", c.name, id, err, c.want)
		}
	}
}

// TestIDGenConcurrent: ids are unique across goroutines, carry the
// generator's node, and are strictly increasing as each goroutine sees them,
// with a real clock and with one that stands still (always running ahead).
func TestIDGenConcurrent(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"wall clock", nil},
		{"frozen clock", []Option{WithClock(newTestClock(clockStart).now)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			const node = 7
			g, err := New(node, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			const workers, each = 8, 3000
			got := make([][]schemas.ID, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					ids := make([]schemas.ID, 0, each)
					for range each {
						id, err := g.Next()
						if err != nil {
							t.Error(err)
							return
						}
						ids = append(ids, id)
					}
					got[w] = ids
				})
				if w == workers/2 {
					// Observing and reading Ahead concurrently with Next
					// must be safe too.
					wg.Go(func() {
						for range 100 {
							id, _ := g.Next()
							g.Observe(id + 1)
							_ = g.Ahead()
						}
					})
				}
			}
			wg.Wait()
			all := make([]schemas.ID, 0, workers*each)
			for w, ids := range got {
				for i, id := range ids {
					if i > 0 && id <= ids[i-1] {
						t.Fatalf("worker %d: id %d after %d", w, id, ids[i-1])
					}
					checkNode(t, id, node)
				}
				all = append(all, ids...)
			}
			slices.Sort(all)
			if n := len(slices.Compact(all)); n != workers*each {
				t.Fatalf("%d distinct ids out of %d", n, workers*each)
			}
		})
	}
}

// TestNextIsAboveIDAtNow: a generator on the wall clock mints ids at or
// above schemas.IDAt(now), which bwmarrin/snowflake reads back as this node, step 0.
func TestNextIsAboveIDAtNow(t *testing.T) {
	g, _ := New(1)
	before := schemas.IDAt(time.Now())
	n, err := g.Next()
	if err != nil || n < before {
		t.Errorf("Next() = %d, below schemas.IDAt(now) = %d (%v)", n, before, err)
	}
	if sf := snowflake.ID(n); sf.Node() != 1 || schemas.IDTime(n).UnixMilli() != sf.Time() || sf.Step() != 0 {
		t.Errorf("snowflake reads %d as node %d, step %d, %d ms", n, sf.Node(), sf.Step(), sf.Time())
	}
}
