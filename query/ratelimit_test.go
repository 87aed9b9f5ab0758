package query

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"happychat/internal/ratelimit"
	"happychat/schemas"
)

// getAs calls path as client address addr (the test client is the trusted
// proxy and names it in X-Forwarded-For; "" for the test client itself)
// and returns the status; get checks every answer against the document.
func (e *testEnv) getAs(addr, path, bearer string) int {
	e.t.Helper()
	h := http.Header{}
	if addr != "" {
		h.Set("X-Forwarded-For", addr)
	}
	r := e.getWith(path, bearer, h)
	if r.status == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
			e.t.Fatalf("429 with Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	return r.status
}

// Floods of reads are limited per user, per address for anonymous callers,
// and per address over every route, with 429 and Retry-After; exports and
// analytics have their own, smaller bucket; another user or address is
// served; the operator's allowlist passes. The rates are so slow (a token
// in 1,000 s) that the counts are exact whatever the test's speed.
func TestReadFloods(t *testing.T) {
	slow := func(burst int) ratelimit.Rate { return ratelimit.Rate{PerSecond: 0.001, Burst: burst} }
	e := newTestEnv(t, func(c *Config) {
		c.Limits = Limits{
			Addresses: ratelimit.Addresses{
				Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				Exempt:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			},
			PerAddress: slow(8),
			Reads:      slow(4),
			HeavyReads: slow(2),
		}
	})
	room := e.addRoom("reads", schemas.RoomStatusOpen, 1, time.Now().Add(-time.Hour))
	count := func(n int, call func() int) map[int]int {
		out := map[int]int{}
		for range n {
			out[call()]++
		}
		return out
	}
	want := func(what string, got map[int]int, ok int) {
		t.Helper()
		if got[http.StatusOK] != ok || got[http.StatusTooManyRequests] != sum(got)-ok {
			t.Fatalf("%s: %v, want %d served and the rest 429", what, got, ok)
		}
	}
	reader, other := e.userToken(100), e.userToken(101)
	pages := "/v1/rooms/" + room.String() + "/messages"
	// Per user (from the allowlisted test client: only the user limit).
	want("pages by one user", count(6, func() int { return e.getAs("", pages, reader) }), 4)
	want("rooms by another user", count(1, func() int { return e.getAs("", "/v1/rooms", other) }), 1)
	// Exports and analytics: the heavy bucket, apart from the pages'.
	want("analytics by one user", count(2, func() int { return e.getAs("", "/v1/analytics/activity?bucket=hour", other) }), 2)
	want("exports after analytics", count(2, func() int { return e.getAs("", pages+"/export", other) }), 0)
	// Anonymous callers are keyed by address.
	want("anonymous room lists", count(6, func() int { return e.getAs("198.51.100.1", "/v1/rooms", "") }), 4)
	want("anonymous, another address", count(1, func() int { return e.getAs("198.51.100.2", "/v1/rooms", "") }), 1)
	// One address over many users' tokens: the address limit (8) holds.
	n := 0
	got := count(12, func() int {
		n++
		return e.getAs("198.51.100.3", "/v1/rooms/"+room.String(), e.userToken(schemas.ID(200+n)))
	})
	want("one address, many users", got, 8)
	// The allowlisted test client reads anonymously without any limit.
	want("allowlist", count(20, func() int { return e.getAs("", "/v1/openapi.yaml", "") }), 20)
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
