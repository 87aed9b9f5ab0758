// Package ratelimit holds the limits the services put on their doors: token
// buckets keyed by what an abuser cannot multiply (a client address, a user,
// a room) in bounded memory, and the rule that finds a request's client
// address behind trusted proxies (addr.go).
//
// Every bucket here is per instance and in memory: taking a token costs no
// store round trip, so the limits can sit on the send path. With N
// instances behind a balancer a key can reach N times a rate at most; the
// documentation of each limit states that bound. A limit that must hold
// across the cluster (the global session cap) keeps its state in a store
// and is written by the service that owns it.
//
// It imports schemas and the error renderer only, never a role package.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"happychat/schemas"
)

// Rate is one limit: PerSecond tokens a second into a bucket of Burst. A
// zero PerSecond means no limit (role packages take their limits from the
// binary's configuration, which has the defaults).
type Rate struct {
	PerSecond float64
	Burst     int
}

// Off reports whether the rate limits nothing.
func (r Rate) Off() bool { return r.PerSecond <= 0 || r.Burst <= 0 }

// DefaultMaxKeys bounds the keys of one set of buckets unless Options say
// otherwise: about 200 bytes each, so 100,000 keys cost some 20 MB.
const DefaultMaxKeys = 100_000

// Options tune a set of buckets; zero values take the defaults.
type Options struct {
	// MaxKeys bounds how many keys are remembered (DefaultMaxKeys). Past
	// it the least recently seen key is forgotten, so a flood of fresh
	// addresses costs bounded memory; the forgotten key starts again with
	// a full bucket if it comes back, which is what a flood of more keys
	// than this can buy.
	MaxKeys int
	// Now is the clock (time.Now): a seam for tests.
	Now func() time.Time
}

// Buckets are token buckets keyed by K, safe for concurrent use. A key
// idle long enough for its bucket to be full again is forgotten (that
// loses nothing: a new bucket starts full), and at most MaxKeys are kept.
type Buckets[K comparable] struct {
	rate   Rate
	max    int
	refill time.Duration // how long an empty bucket takes to fill
	now    func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *entry[K], most recently used at the front
	index map[K]*list.Element
}

type entry[K comparable] struct {
	key  K
	lim  *rate.Limiter
	used time.Time
}

// NewBuckets returns buckets of rate r.
func NewBuckets[K comparable](r Rate, o Options) *Buckets[K] {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Buckets[K]{rate: r, max: o.MaxKeys, now: o.Now, lru: list.New(), index: map[K]*list.Element{}}
	if !r.Off() {
		b.refill = time.Duration(float64(r.Burst) / r.PerSecond * float64(time.Second))
	}
	return b
}

// Allow takes one token from k's bucket. When the bucket is empty it takes
// none and says how long until one is there. Nil Buckets limit nothing.
func (b *Buckets[K]) Allow(k K) (ok bool, retryAfter time.Duration) {
	if b == nil || b.rate.Off() {
		return true, 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.forgetIdle(now)
	var e *entry[K]
	if el, found := b.index[k]; found {
		e = el.Value.(*entry[K])
		b.lru.MoveToFront(el)
	} else {
		if b.lru.Len() >= b.max {
			b.remove(b.lru.Back())
		}
		e = &entry[K]{key: k, lim: rate.NewLimiter(rate.Limit(b.rate.PerSecond), b.rate.Burst)}
		b.index[k] = b.lru.PushFront(e)
	}
	e.used = now
	res := e.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is how many keys are remembered.
func (b *Buckets[K]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lru.Len()
}

// forgetIdle drops, oldest first, the keys whose buckets have refilled:
// amortised O(1) per call, so no sweeper goroutine is needed.
func (b *Buckets[K]) forgetIdle(now time.Time) {
	for el := b.lru.Back(); el != nil; el = b.lru.Back() {
		if now.Sub(el.Value.(*entry[K]).used) <= b.refill {
			return
		}
		b.remove(el)
	}
}

func (b *Buckets[K]) remove(el *list.Element) {
	delete(b.index, el.Value.(*entry[K]).key)
	b.lru.Remove(el)
}

// Limited is the refusal of a limited request: 429 rate_limited with the
// wait in Retry-After (internal/httperr rounds it up to whole seconds).
func Limited(message string, retryAfter time.Duration) *schemas.Error {
	return &schemas.Error{Code: schemas.CodeRateLimited, Message: message, RetryAfter: retryAfter}
}
