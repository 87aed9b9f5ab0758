package schemas

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/snowflake"
)

func TestNewIDGenNodeRange(t *testing.T) {
	for _, node := range []int64{-1, 1024, 1 << 20} {
		if _, err := NewIDGen(node, 0); err == nil {
			t.Errorf("node %d accepted", node)
		}
	}
	for _, node := range []int64{0, MaxRoomPartitions - 1, InstanceNodeBase, InstanceNodeBase + MaxInstanceID} {
		g, err := NewIDGen(node, 0)
		if err != nil {
			t.Fatalf("node %d: %v", node, err)
		}
		id, err := g.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got := snowflake.ID(id).Node(); got != node {
			t.Errorf("id %d carries node %d, want %d", id, got, node)
		}
	}
}

// TestIDGenConcurrent: ids are unique across goroutines and strictly
// increasing as each goroutine sees them.
func TestIDGenConcurrent(t *testing.T) {
	g, err := NewIDGen(7, 0)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 3000
	got := make([][]ID, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ids := make([]ID, 0, each)
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
			// Observing concurrently with Next must be safe too.
			wg.Go(func() {
				for range 100 {
					id, _ := g.Next()
					g.Observe(id - 1)
				}
			})
		}
	}
	wg.Wait()
	all := make([]ID, 0, workers*each)
	for w, ids := range got {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("worker %d: id %d after %d", w, ids[i], ids[i-1])
			}
		}
		all = append(all, ids...)
	}
	slices.Sort(all)
	if n := len(slices.Compact(all)); n != workers*each {
		t.Fatalf("%d distinct ids out of %d", n, workers*each)
	}
}

// TestIDGenWaitsForFloor: a floor a little ahead of the clock (a previous
// owner's clock ran ahead) makes Next wait, then exceed it.
func TestIDGenWaitsForFloor(t *testing.T) {
	g, err := NewIDGen(3, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var slept atomic.Int64
	g.sleep = func(d time.Duration) {
		slept.Add(int64(d))
		time.Sleep(d)
	}
	// The largest id any node could mint 50 ms from now.
	floor := IDAt(time.Now().Add(50*time.Millisecond)) | (1<<(snowflake.NodeBits+snowflake.StepBits) - 1)
	g.Observe(floor)
	g.Observe(floor - 1000) // a lower observation never lowers the floor
	id, err := g.Next()
	if err != nil {
		t.Fatal(err)
	}
	if id <= floor {
		t.Fatalf("Next = %d, not above the floor %d", id, floor)
	}
	if !IDTime(id).After(IDTime(floor)) {
		t.Errorf("id time %v not after floor time %v", IDTime(id), IDTime(floor))
	}
	if slept.Load() == 0 {
		t.Error("Next did not wait for the clock")
	}
	next, err := g.Next()
	if err != nil || next <= id {
		t.Errorf("following Next = %d, %v; want above %d", next, err, id)
	}
}

// TestIDGenClockBackwards: a floor further ahead than maxWait is refused
// (the caller answers 503 and retries), not waited for.
func TestIDGenClockBackwards(t *testing.T) {
	g, err := NewIDGen(3, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var slept atomic.Int64
	g.sleep = func(d time.Duration) {
		slept.Add(int64(d))
		time.Sleep(d)
	}
	g.Observe(IDAt(time.Now().Add(time.Hour)))
	for range 2 {
		if _, err := g.Next(); !errors.Is(err, ErrClockBackwards) {
			t.Fatalf("Next = %v, want ErrClockBackwards", err)
		}
	}
	if d := time.Duration(slept.Load()); d > 0 {
		t.Errorf("Next slept %v for a floor it could never reach", d)
	}
}

func TestIDTimeAndIDAt(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 21, 13, 123_456_789, time.UTC)
	id := IDAt(at)
	if got := IDTime(id); !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("IDTime(IDAt(t)) = %v, want %v", got, at.Truncate(time.Millisecond))
	}
	if IDAt(at.Add(time.Millisecond)) <= id|(1<<(snowflake.NodeBits+snowflake.StepBits)-1) {
		t.Error("IDAt of the next millisecond is not above every id of this one")
	}
	if IDAt(time.Unix(0, 0)) != 0 {
		t.Error("IDAt before the epoch is not 0")
	}
	g, _ := NewIDGen(1, 0)
	before := IDAt(time.Now())
	n, err := g.Next()
	if err != nil || n < before {
		t.Errorf("Next() = %d, below IDAt(now) = %d (%v)", n, before, err)
	}
}
