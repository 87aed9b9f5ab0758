package bench

import (
	"math"
	"testing"
	"time"
)

// TestDeliverySplit: one delivery's slot → receipt splits into the issue
// lag, write → sent_at and sent_at → receipt, which add up; a second copy
// is a duplicate, another run's message only moves the seq, and a delivery
// after the window is not in the window's count.
func TestDeliverySplit(t *testing.T) {
	start := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	sched := newSchedule(start, 100, time.Second) // slot 5 at +50 ms
	tag, err := newRunTag()
	if err != nil {
		t.Fatal(err)
	}
	run := &loadRun{led: newLedger(sched, 3), tag: tag, res: &Result{LoadResult: &LoadResult{}}}
	run.windowEnd.Store(start.Add(time.Second).UnixNano())
	L := run.led
	L.room[5], L.slot[5] = 1, 0
	L.scheduled.Store(10)
	L.written[5].Store(start.Add(52 * time.Millisecond).UnixNano()) // 2 ms issue lag
	m := &member{room: 1, slot: 2}
	f := &scanned{typ: []byte(typeMessage), msgSeq: 8, msgCMID: tag.appendID(nil, 5), sentAt: []byte("2026-12-03T02:00:00.061Z")}
	receipt := start.Add(70*time.Millisecond + 500*time.Microsecond)
	m.onMessage(run, f, receipt)
	m.onMessage(run, f, receipt.Add(time.Millisecond))

	tl := &m.tally
	if tl.deliveries != 1 || tl.duplicated != 1 || tl.inWindow != 1 || !L.has(5, 2) {
		t.Fatalf("deliveries %d duplicated %d in window %d", tl.deliveries, tl.duplicated, tl.inWindow)
	}
	want := map[string][2]float64{
		"total":      {tl.total[0], 20.5},
		"fromWrite":  {tl.fromWrite[0], 18.5},
		"toSentAt":   {tl.toSentAt[0], 9},
		"fromSentAt": {tl.fromSentAt[0], 9.5},
	}
	for name, v := range want {
		if math.Abs(v[0]-v[1]) > 1e-9 {
			t.Errorf("%s %.3f ms, want %.3f", name, v[0], v[1])
		}
	}
	if lag := 2.0; math.Abs(lag+tl.toSentAt[0]+tl.fromSentAt[0]-tl.total[0]) > 1e-9 {
		t.Errorf("the parts do not add up to %.3f", tl.total[0])
	}

	// Another run's message: in the room's sequence, not a delivery.
	other, err := newRunTag()
	if err != nil {
		t.Fatal(err)
	}
	m.onMessage(run, &scanned{typ: []byte(typeMessage), msgSeq: 9, msgCMID: other.appendID(nil, 5)}, receipt)
	if tl.deliveries != 1 || m.lastSeq != 9 {
		t.Fatalf("deliveries %d last seq %d", tl.deliveries, m.lastSeq)
	}
	// After the window: delivered, not in the window; out of order.
	L.room[6] = 1
	m.onMessage(run, &scanned{typ: []byte(typeMessage), msgSeq: 7, msgCMID: tag.appendID(nil, 6)}, start.Add(2*time.Second))
	if tl.deliveries != 2 || tl.inWindow != 1 || tl.outOfOrder != 1 {
		t.Fatalf("deliveries %d in window %d out of order %d", tl.deliveries, tl.inWindow, tl.outOfOrder)
	}
}
