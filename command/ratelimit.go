package command

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"happychat/schemas"
)

// limiter holds per-user token buckets for sends and joins. Limits are per
// instance: with N instances a user can reach N times the rate at most
// (requests are limited where they arrive, before forwarding).
type limiter struct {
	mu         sync.Mutex
	send, join map[schemas.ID]*bucket
	sendRate   rate.Limit
	joinRate   rate.Limit
	sendBurst  int
	joinBurst  int
	lastSweep  time.Time
}

type bucket struct {
	l    *rate.Limiter
	used time.Time
}

func newLimiter(sendRate float64, sendBurst int, joinRate float64, joinBurst int) *limiter {
	return &limiter{
		send: map[schemas.ID]*bucket{}, join: map[schemas.ID]*bucket{},
		sendRate: rate.Limit(sendRate), sendBurst: sendBurst,
		joinRate: rate.Limit(joinRate), joinBurst: joinBurst,
		lastSweep: time.Now(),
	}
}

// allow takes one token for user from the send or join bucket, or returns a
// rate_limited error saying when to retry.
func (l *limiter) allow(join bool, user schemas.ID) error {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	m, r, b := l.send, l.sendRate, l.sendBurst
	if join {
		m, r, b = l.join, l.joinRate, l.joinBurst
	}
	bk, ok := m[user]
	if !ok {
		bk = &bucket{l: rate.NewLimiter(r, b)}
		m[user] = bk
	}
	bk.used = now
	if now.Sub(l.lastSweep) > time.Minute {
		l.sweep(now)
	}
	res := bk.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return &schemas.Error{Code: schemas.CodeRateLimited, Message: "too many requests, slow down", RetryAfter: d}
	}
	return nil
}

// sweep forgets buckets idle long enough to be full again.
func (l *limiter) sweep(now time.Time) {
	l.lastSweep = now
	for _, m := range []map[schemas.ID]*bucket{l.send, l.join} {
		for u, b := range m {
			if now.Sub(b.used) > 5*time.Minute {
				delete(m, u)
			}
		}
	}
}
