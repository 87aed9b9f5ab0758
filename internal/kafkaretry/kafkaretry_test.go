package kafkaretry

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToItsCap(t *testing.T) {
	b := Backoff(FailoverCap)
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, FailoverCap, FailoverCap}
	for i, w := range want {
		if got := b(i + 1); got != w {
			t.Fatalf("after %d failures: %v, want %v", i+1, got, w)
		}
	}
	if got := b(1000); got != FailoverCap {
		t.Fatalf("after many failures: %v, want the cap %v", got, FailoverCap)
	}
	// Through a 4.5 s election, tries come at most FailoverCap apart:
	// the first after the new leader is at most FailoverCap late.
	var at time.Duration
	for fails := 1; at < 4500*time.Millisecond; fails++ {
		at += b(fails)
	}
	if late := at - 4500*time.Millisecond; late > FailoverCap {
		t.Fatalf("first try %v after the election, want at most %v", late, FailoverCap)
	}
}
