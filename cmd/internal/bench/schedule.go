package bench

import (
	"math"
	"time"
)

// schedule is the open loop's timeline: send k is due at its slot,
// start + k/rate, computed from k rather than by adding intervals, so that
// a late wake-up never shifts the later slots (no drift) and the offered
// rate is the configured one whatever the server does.
type schedule struct {
	start time.Time
	rate  float64 // sends per second
	total int64   // slots in [start, start + duration)
}

func newSchedule(start time.Time, rate float64, d time.Duration) schedule {
	// The slots k/rate < d: ceil(rate·d) of them. The epsilon keeps an exact
	// product (1000/s × 30 s) from gaining a slot to floating-point noise.
	total := int64(math.Ceil(rate*d.Seconds() - 1e-9))
	return schedule{start: start, rate: rate, total: max(total, 0)}
}

// slot is when send k is due.
func (s schedule) slot(k int64) time.Time {
	return s.start.Add(time.Duration(float64(k) / s.rate * float64(time.Second)))
}

// due is how many slots are due at now: every k with slot(k) <= now, at
// most total.
func (s schedule) due(now time.Time) int64 {
	el := now.Sub(s.start)
	if el < 0 {
		return 0
	}
	n := int64(math.Floor(el.Seconds()*s.rate)) + 1
	// Float rounding may put the boundary one slot off either way; the
	// slots themselves decide.
	for n > 0 && s.slot(n-1).After(now) {
		n--
	}
	for n < s.total && !s.slot(n).After(now) {
		n++
	}
	return min(n, s.total)
}
