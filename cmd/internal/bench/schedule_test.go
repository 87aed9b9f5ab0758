package bench

import (
	"testing"
	"time"
)

func TestScheduleTotal(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		rate float64
		d    time.Duration
		want int64
	}{
		{"exact product", 1000, 30 * time.Second, 30000},
		{"one second at 3/s", 3, time.Second, 3},
		{"a fraction of a slot more", 3, 1100 * time.Millisecond, 4},
		{"shorter than one interval", 2, 100 * time.Millisecond, 1},
		{"no time", 50, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newSchedule(start, tt.rate, tt.d).total; got != tt.want {
				t.Fatalf("total %d, want %d", got, tt.want)
			}
		})
	}
}

// TestScheduleSlotsDoNotDrift: slot k is computed from k, so a million
// slots at a rate whose interval is not a whole number of nanoseconds still
// end where the rate says.
func TestScheduleSlotsDoNotDrift(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := newSchedule(start, 3000, 1000*time.Second)
	if got := s.slot(3_000_000).Sub(start); got != 1000*time.Second {
		t.Fatalf("slot 3,000,000 at 3,000/s is %v after the start, want 1000s", got)
	}
	if got := s.slot(1).Sub(start); got != 333333*time.Nanosecond {
		t.Fatalf("slot 1 at %v", got)
	}
}

// TestScheduleDue: at any instant the due slots are exactly those whose
// time has come, never more than the schedule holds.
func TestScheduleDue(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	s := newSchedule(start, 1000, 2*time.Second) // slots every 1 ms, 2,000 of them
	tests := []struct {
		name string
		at   time.Duration
		want int64
	}{
		{"before the start", -time.Millisecond, 0},
		{"at the start", 0, 1},
		{"just before the second slot", time.Millisecond - 1, 1},
		{"at the second slot", time.Millisecond, 2},
		{"a late wake-up", 57*time.Millisecond + 300*time.Microsecond, 58},
		{"at the last slot", 1999 * time.Millisecond, 2000},
		{"past the end", time.Hour, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.due(start.Add(tt.at)); got != tt.want {
				t.Fatalf("due at %v: %d, want %d", tt.at, got, tt.want)
			}
		})
	}
	// Everywhere: slot(due-1) ≤ now < slot(due), at an awkward rate.
	s = newSchedule(start, 777, time.Second)
	for ns := int64(0); ns < int64(time.Second); ns += 123_457 {
		now := start.Add(time.Duration(ns))
		n := s.due(now)
		if n < 1 || s.slot(n-1).After(now) || (n < s.total && !s.slot(n).After(now)) {
			t.Fatalf("due at +%dns: %d (slot %v, next %v)", ns, n, s.slot(n-1).Sub(start), s.slot(n).Sub(start))
		}
	}
}
