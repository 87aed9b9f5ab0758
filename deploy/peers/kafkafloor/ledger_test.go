package main

import (
	"testing"
	"time"
)

func TestLedgerCountsLostDuplicatedAndOutOfOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := newLedger(t0, time.Millisecond, 8, 2) // rooms: even k in 0, odd in 1
	l.answer([]int{0, 1, 2, 3, 4, 5}, t0.Add(10*time.Millisecond), true)
	l.answer([]int{6}, t0.Add(10*time.Millisecond), false)
	// 7 never answered; 5 answered but never read (lost); 1 read twice;
	// room 0 reads 4 before 2 (out of order).
	for _, k := range []int{0, 1, 1, 4, 2, 3} {
		l.see(k, t0.Add(20*time.Millisecond))
	}
	if l.allSeen(8) {
		t.Fatal("record 5 was answered and not read")
	}
	got := l.tally(0, 8)
	if got.acked != 6 || got.failed != 1 || got.unanswered != 1 || got.lost != 1 || got.dup != 1 || got.ooo != 1 {
		t.Fatalf("tally %+v", got)
	}
	if len(got.answer) != 6 || got.answer[0] != 10 || got.answer[5] != 5 {
		t.Fatalf("answer latencies %v (due k ms after t0, answered at 10 ms)", got.answer)
	}
	if len(got.visible) != 5 || got.visible[0] != 20 {
		t.Fatalf("visible latencies %v", got.visible)
	}
	// the warm-up's records are not counted
	if w := l.tally(2, 8); w.acked != 4 || w.lost != 1 {
		t.Fatalf("window tally %+v", w)
	}
}
