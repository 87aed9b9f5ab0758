package feed

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff waits 100 ms, 200 ms, ... up to 5 s, with jitter.
type backoff struct{ n int }

func (b *backoff) reset() { b.n = 0 }

// delay is the wait before the next attempt: 100 ms doubling up to 5 s,
// less a random jitter of at most half, so that the partitions and
// processes that failed together do not retry together.
func (b *backoff) delay() time.Duration {
	d := 100 * time.Millisecond << min(b.n, 6)
	d = min(d, 5*time.Second)
	b.n++
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter spreads retries; it guards nothing
}

// wait sleeps for the next delay; false when ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.delay())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
