package main

import (
	"sync"
	"time"
)

// ledger is what happened to every record of a run: when it was due (its
// slot in the open-loop schedule), when the writer was told it was
// committed, and when the reader saw it. Lost, duplicated and out of order
// are counted from it, as peer-limits counts them for deliveries.
type ledger struct {
	t0    time.Time
	every time.Duration // the schedule's interval: record k is due at t0 + k·every
	rooms int

	mu       sync.Mutex
	answered []time.Time // zero: not (yet) answered as committed
	failed   []bool      // its transaction was aborted or failed
	seen     []time.Time // the reader's first sight
	times    []int32     // how often the reader saw it
	lastSeen []int       // per room, the highest k seen so far
	outOrder int
}

func newLedger(t0 time.Time, every time.Duration, n, rooms int) *ledger {
	l := &ledger{t0: t0, every: every, rooms: rooms,
		answered: make([]time.Time, n), failed: make([]bool, n),
		seen: make([]time.Time, n), times: make([]int32, n), lastSeen: make([]int, rooms)}
	for i := range l.lastSeen {
		l.lastSeen[i] = -1
	}
	return l
}

func (l *ledger) due(k int) time.Time { return l.t0.Add(time.Duration(k) * l.every) }

// room is record k's room: spread evenly, the way peer-limits' members
// take turns.
func (l *ledger) room(k int) int { return k % l.rooms }

func (l *ledger) answer(ks []int, at time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range ks {
		if ok {
			l.answered[k] = at
		} else {
			l.failed[k] = true
		}
	}
}

// see notes the reader's sight of record k. Within a room the records
// must come in the order they were due, since a room's records are
// produced in that order by one writer at a time.
func (l *ledger) see(k int, at time.Time) {
	if k < 0 || k >= len(l.seen) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times[k]++
	if l.times[k] > 1 {
		return
	}
	l.seen[k] = at
	r := l.room(k)
	if k < l.lastSeen[r] {
		l.outOrder++
	} else {
		l.lastSeen[r] = k
	}
}

// allSeen is whether every record answered as committed has been read.
func (l *ledger) allSeen(upto int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range upto {
		if !l.answered[k].IsZero() && l.times[k] == 0 {
			return false
		}
	}
	return true
}

// tally is the run's outcome over records [from, upto): latencies from
// each record's due time to its answer and to its first sight, in ms.
type tally struct {
	answer, visible               []float64
	acked, failed, lost, dup, ooo int
	unanswered                    int
}

func (l *ledger) tally(from, upto int) tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	var t tally
	t.ooo = l.outOrder
	for k := from; k < upto; k++ {
		d := l.due(k)
		switch {
		case l.failed[k]:
			t.failed++
		case l.answered[k].IsZero():
			t.unanswered++
		default:
			t.acked++
			t.answer = append(t.answer, ms(l.answered[k].Sub(d)))
			if l.times[k] == 0 {
				t.lost++
			}
		}
		if l.times[k] > 1 {
			t.dup += int(l.times[k] - 1)
		}
		if l.times[k] > 0 {
			t.visible = append(t.visible, ms(l.seen[k].Sub(d)))
		}
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
