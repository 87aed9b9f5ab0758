package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"happychat/schemas"
)

// clock is an injected time source: tests move it by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} }
func allowN(b *Buckets[string], k string, n int) (allowed int) {
	for range n {
		if ok, _ := b.Allow(k); ok {
			allowed++
		}
	}
	return allowed
}

func TestBucketsBurstThenRate(t *testing.T) {
	c := newClock()
	b := NewBuckets[string](Rate{PerSecond: 2, Burst: 5}, Options{Now: c.now})
	if got := allowN(b, "a", 20); got != 5 {
		t.Fatalf("burst: %d allowed, want 5", got)
	}
	ok, wait := b.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok %v, wait %v; want a refusal saying 500ms", ok, wait)
	}
	// A refused request takes no token: after the wait, exactly one more.
	c.add(500 * time.Millisecond)
	if got := allowN(b, "a", 3); got != 1 {
		t.Fatalf("after 500ms: %d allowed, want 1", got)
	}
	// Another key has its own bucket.
	if got := allowN(b, "b", 20); got != 5 {
		t.Fatalf("other key: %d allowed, want 5", got)
	}
}

func TestBucketsOff(t *testing.T) {
	for _, r := range []Rate{{}, {PerSecond: 1}, {Burst: 3}} {
		b := NewBuckets[string](r, Options{})
		if got := allowN(b, "a", 1000); got != 1000 || b.Len() != 0 {
			t.Fatalf("%+v: %d allowed, %d keys; want no limit and no memory", r, got, b.Len())
		}
	}
}

func TestBucketsForgetIdleKeys(t *testing.T) {
	c := newClock()
	b := NewBuckets[string](Rate{PerSecond: 1, Burst: 10}, Options{Now: c.now})
	allowN(b, "old", 10)
	c.add(5 * time.Second)
	allowN(b, "new", 1)
	if b.Len() != 2 {
		t.Fatalf("%d keys, want 2", b.Len())
	}
	// "old" refills in 10 s; past that it is forgotten, and forgetting
	// loses nothing: it comes back with the full bucket it would have had.
	c.add(5*time.Second + time.Millisecond)
	allowN(b, "new", 1)
	if b.Len() != 1 {
		t.Fatalf("%d keys after old's refill time, want 1", b.Len())
	}
	if got := allowN(b, "old", 20); got != 10 {
		t.Fatalf("old after refill: %d allowed, want 10", got)
	}
}

func TestBucketsBoundedKeys(t *testing.T) {
	c := newClock()
	b := NewBuckets[string](Rate{PerSecond: 0.001, Burst: 1}, Options{MaxKeys: 3, Now: c.now})
	allowN(b, "victim", 1)
	// A flood of fresh keys never grows the map past MaxKeys: the least
	// recently seen are forgotten.
	for _, k := range []string{"f1", "f2", "f3", "f4", "f5"} {
		b.Allow(k)
		if b.Len() > 3 {
			t.Fatalf("%d keys, bound is 3", b.Len())
		}
	}
	// A key in use stays: f5 was used last, so it is still limited.
	if ok, _ := b.Allow("f5"); ok {
		t.Fatal("the most recent key was forgotten")
	}
}

func TestPerAddress(t *testing.T) {
	c := newClock()
	addrs := Addresses{Exempt: mustPrefixes(t, "10.9.0.0/16")}
	l := NewPerAddress(addrs, Rate{PerSecond: 0.5, Burst: 2}, "slow down", Options{Now: c.now})
	req := func(remote string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		return r
	}
	for i := range 2 {
		if e := l.Check(req("192.0.2.1:1000")); e != nil {
			t.Fatalf("request %d refused: %v", i, e)
		}
	}
	e := l.Check(req("192.0.2.1:1001"))
	if e == nil || e.Code != schemas.CodeRateLimited || e.RetryAfter != 2*time.Second || e.Message != "slow down" {
		t.Fatalf("third request: %+v, want rate_limited with a 2s wait", e)
	}
	// Another address is served; so is the allowlist, without limit.
	if e := l.Check(req("192.0.2.2:1000")); e != nil {
		t.Fatalf("another address refused: %v", e)
	}
	for i := range 100 {
		if e := l.Check(req("10.9.3.4:1000")); e != nil {
			t.Fatalf("exempt request %d refused: %v", i, e)
		}
	}
	// Addresses of one IPv6 /64 share a bucket; the next /64 does not.
	for i, a := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:1"} {
		if e := l.Check(req(a)); e != nil {
			t.Fatalf("v6 %d refused: %v", i, e)
		}
	}
	if e := l.Check(req("[2001:db8:1:2:abcd::1]:1")); e == nil {
		t.Fatal("a third address of the same /64 was served past its burst")
	}
	if e := l.Check(req("[2001:db8:1:3::1]:1")); e != nil {
		t.Fatalf("the next /64 refused: %v", e)
	}
}

func mustPrefixes(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	p, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
