package feed

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff waits 100 ms, 200 ms, ... up to 5 s, with jitter.
type backoff struct{ n int }

func (b *backoff) reset() { b.n = 0 }

func (b *backoff) wait(ctx context.Context) bool {
	d := 100 * time.Millisecond << min(b.n, 6)
	d = min(d, 5*time.Second)
	d = d/2 + rand.N(d/2+1) //nolint:gosec // jitter spreads retries; it guards nothing
	b.n++
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
