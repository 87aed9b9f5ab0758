package command

import (
	"context"
	"slices"
	"testing"
	"time"
)

// The next instance transaction takes the batches of the owners the last
// one answered, however late they come, once each has come back or said it
// has nothing: with an hour to wait, gather returns only by counting them.
func TestGatherWaitsForTheOwnersTheLastTransactionAnswered(t *testing.T) {
	w := &instanceWriter{jobs: make(chan *sharedJob, 8), idle: make(chan *owner, 8), rejoin: time.Hour}
	a, b, c := &owner{part: 0}, &owner{part: 1}, &owner{part: 2}
	ja, jc := &sharedJob{o: a}, &sharedJob{o: c}
	go func() {
		time.Sleep(5 * time.Millisecond) // later than the writer would have begun without gather
		w.jobs <- jc                     // an owner the last transaction did not answer
		w.jobs <- ja
		w.idleAfterBatch(b)
	}()
	jobs := w.gather(context.Background(), map[*owner]struct{}{a: {}, b: {}})
	if !slices.Contains(jobs, ja) || !slices.Contains(jobs, jc) || len(jobs) != 2 {
		t.Fatalf("gathered %v, want the jobs of a and c", jobs)
	}
	select {
	case o := <-w.idle:
		t.Fatalf("owner %d's idle signal left unread", o.part)
	default:
	}
}

// An owner that never comes back (stopped, revoked) costs the next
// transaction rejoin at most; nothing answered last time, nothing to wait for.
func TestGatherDoesNotWaitForeverNorForNobody(t *testing.T) {
	w := &instanceWriter{jobs: make(chan *sharedJob, 8), idle: make(chan *owner, 8), rejoin: 10 * time.Millisecond}
	a, b := &owner{part: 0}, &owner{part: 1}
	ja := &sharedJob{o: a}
	w.jobs <- ja
	if jobs := w.gather(context.Background(), map[*owner]struct{}{a: {}, b: {}}); len(jobs) != 1 || jobs[0] != ja {
		t.Fatalf("gathered %v, want a's job only", jobs)
	}
	w.jobs <- ja
	if jobs := w.gather(context.Background(), nil); len(jobs) != 0 {
		t.Fatalf("gathered %v with nobody answered: the writer's own select takes the first job", jobs)
	}
}
