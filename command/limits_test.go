package command

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/ratelimit"
	"happychat/schemas"
)

// The tests' own client is the trusted proxy: it names the client address
// in X-Forwarded-For, so that one process can speak as many addresses.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// as posts body to path as client address addr (through the trusted proxy)
// and returns the status and, for a 429, checks the refusal's form.
func (e *hostileEnv) as(addr, path, bearer, body string) int {
	e.t.Helper()
	h := http.Header{}
	if addr != "" {
		h.Set("X-Forwarded-For", addr)
	}
	ctype := ""
	if body != "" {
		ctype = "application/json"
	}
	st, hdr, b := e.do(http.MethodPost, path, bearer, ctype, strings.NewReader(body), h)
	if st == http.StatusTooManyRequests {
		checkLimited(e.t, hdr, b)
	}
	return st
}

// checkLimited asserts the contract's 429: the envelope with rate_limited
// and a Retry-After of whole seconds.
func checkLimited(t testing.TB, h http.Header, body []byte) {
	t.Helper()
	var env schemas.ErrorBody
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code != schemas.CodeRateLimited {
		t.Fatalf("429 body %s, want the rate_limited envelope", body)
	}
	if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("429 with Retry-After %q", h.Get("Retry-After"))
	}
}

// statuses counts the answers of n calls by status.
func statuses(n int, call func(i int) int) map[int]int {
	out := map[int]int{}
	for i := range n {
		out[call(i)]++
	}
	return out
}

// registered counts the user.registered events of the users topic.
func (e *hostileEnv) registered() int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	err := logread.Read(ctx, e.c.brokers, e.c.names.Users, logread.HighWatermark, func(r *kgo.Record) error {
		if ev, err := schemas.Events.Decode(r.Value); err == nil {
			if _, ok := ev.Payload.(schemas.UserRegistered); ok {
				n++
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A flood of sessions from one address is limited while another address
// is served; the addresses of one IPv6 /64 are one client; a refused
// session appends nothing. The rates are so slow (one token in 1,000 s)
// that the counts are exact whatever the test's speed.
func TestSessionFlood(t *testing.T) {
	const burst = 3
	e := newHostileEnv(t, func(c *Config) {
		c.Limits.Addresses.Trusted = loopback
		c.Limits.Sessions = ratelimit.Rate{PerSecond: 0.001, Burst: burst}
	})
	before := e.registered()
	session := func(addr string) func(int) int {
		return func(i int) int {
			return e.as(addr, "/v1/sessions", "", fmt.Sprintf(`{"nickname":"flood%d"}`, i))
		}
	}
	got := statuses(20, session("198.51.100.7"))
	if got[http.StatusCreated] != burst || got[http.StatusTooManyRequests] != 20-burst {
		t.Fatalf("flood from one address: %v, want %d created and the rest 429", got, burst)
	}
	if got := statuses(1, session("198.51.100.8")); got[http.StatusCreated] != 1 {
		t.Fatalf("another address: %v, want served", got)
	}
	// A /64 is one client however it picks its addresses.
	v6 := statuses(burst, func(i int) int { return session(fmt.Sprintf("2001:db8:7:7::%x", i+1))(i) })
	if v6[http.StatusCreated] != burst {
		t.Fatalf("first addresses of a /64: %v", v6)
	}
	if got := statuses(1, session("2001:db8:7:7:ffff::1")); got[http.StatusTooManyRequests] != 1 {
		t.Fatalf("another address of the same /64: %v, want 429", got)
	}
	if got := statuses(1, session("2001:db8:7:8::1")); got[http.StatusCreated] != 1 {
		t.Fatalf("the next /64: %v, want served", got)
	}
	if n := e.registered() - before; n != 2*burst+2 {
		t.Fatalf("%d users registered, %d sessions accepted", n, 2*burst+2)
	}
}

// The global cap holds across addresses: sessions from ever new addresses
// are refused once the minute's count, kept in PostgreSQL, is reached.
func TestSessionGlobalCap(t *testing.T) {
	const perMin = 5
	e := newHostileEnv(t, func(c *Config) {
		c.Limits.Addresses.Trusted = loopback
		c.Limits.SessionsPerMinute = perMin
	})
	// Keep the flood inside one calendar minute of PostgreSQL's clock (the
	// window the cap counts in), then read what that minute holds already.
	ctx := context.Background()
	var sec float64
	if err := e.c.store.QueryRow(ctx, `SELECT extract(second FROM now())`).Scan(&sec); err != nil {
		t.Fatal(err)
	}
	if sec > 45 {
		time.Sleep(time.Duration((61 - sec) * float64(time.Second)))
	}
	var used int
	if err := e.c.store.QueryRow(ctx, `SELECT coalesce(max(n), 0) FROM command_session_counts
		WHERE scope = $1 AND minute = date_trunc('minute', now())`, e.c.names.Users).Scan(&used); err != nil {
		t.Fatal(err)
	}
	got := statuses(2*perMin, func(i int) int {
		return e.as(fmt.Sprintf("203.0.113.%d", i+1), "/v1/sessions", "", `{"nickname":"many"}`)
	})
	if got[http.StatusCreated] != perMin-used || got[http.StatusTooManyRequests] != perMin+used {
		t.Fatalf("%v with %d of the minute used before, want %d created", got, used, perMin-used)
	}
}

// The cap fails open: with PostgreSQL unreachable the session is made (the
// per-address limits, in memory, still hold).
func TestSessionCapFailsOpen(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := &sessionCap{pool: pool, scope: "t", perMin: 1, log: slog.New(slog.DiscardHandler), now: time.Now}
	for i := range 3 {
		if err := c.take(context.Background()); err != nil {
			t.Fatalf("take %d with the store down: %v, want allowed", i, err)
		}
	}
}

// Proposals, leaves, read marks and a room's churn each have their limit,
// with 429 and Retry-After, keyed by user (or room) so that others are
// served; the per-address limit covers every route except for the
// operator's allowlist, through which this test's own traffic passes.
func TestWriteDoorFloods(t *testing.T) {
	slow := func(burst int) ratelimit.Rate { return ratelimit.Rate{PerSecond: 0.001, Burst: burst} }
	e := newHostileEnv(t, func(c *Config) {
		c.Limits.Addresses.Trusted = loopback
		c.Limits.Addresses.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.Limits.PerAddress = slow(5)
		c.Limits.Proposals = slow(2)
		c.Limits.Leaves = slow(2)
		c.Limits.ReadMarks = slow(2)
		c.Limits.RoomChurn = slow(4)
	})
	user := func(nick string) string {
		var s schemas.Session
		if st := e.post("/v1/sessions", "", `{"nickname":"`+nick+`"}`, &s); st != http.StatusCreated {
			t.Fatalf("session %s: %d", nick, st)
		}
		return s.Token
	}
	want := func(door string, got map[int]int, ok, okStatus, n int) {
		t.Helper()
		if got[okStatus] != ok || got[http.StatusTooManyRequests] != n-ok {
			t.Fatalf("%s: %v, want %d × %d and the rest 429", door, got, ok, okStatus)
		}
	}

	// Read marks, per user: the member marks its room.
	want("read marks", statuses(6, func(int) int {
		return e.as("", e.roomPath("/read"), e.member, `{"up_to":"1"}`)
	}), 2, http.StatusOK, 6)

	// Proposals, per user; the admin's rooms are not proposals.
	proposer := user("proposer")
	want("proposals", statuses(5, func(i int) int {
		return e.as("", "/v1/rooms", proposer, fmt.Sprintf(`{"title":"idea %d"}`, i))
	}), 2, http.StatusAccepted, 5)
	want("admin rooms", statuses(3, func(i int) int {
		return e.as("", "/v1/rooms", testAdmin, fmt.Sprintf(`{"title":"open %d"}`, i))
	}), 3, http.StatusCreated, 3)
	proposed := 0
	for _, ev := range e.c.readAll() {
		if _, ok := ev.Payload.(schemas.RoomProposed); ok {
			proposed++
		}
	}
	if proposed != 2 {
		t.Fatalf("%d proposals in the log, 2 accepted", proposed)
	}

	// Leaves, per user (leaving a room one is not in is an idempotent 200).
	other := e.c.openRoom(e.in, "other")
	leaver := user("leaver")
	want("leaves", statuses(5, func(int) int {
		return e.as("", "/v1/rooms/"+other.String()+"/leave", leaver, "")
	}), 2, http.StatusOK, 5)

	// A room's churn: the joins and leaves of everyone in it. The leaver's
	// two leaves used two of the room's four.
	want("churn", statuses(4, func(i int) int {
		return e.as("", "/v1/rooms/"+other.String()+"/join", user(fmt.Sprintf("joiner%d", i)), "")
	}), 2, http.StatusOK, 4)
	if st := e.as("", e.roomPath("/join"), user("elsewhere"), ""); st != http.StatusOK {
		t.Fatalf("a join of another room: %d, want served", st)
	}

	// Every public route, per address: one address runs out whichever
	// routes it calls, and the allowlisted test client never does.
	routes := []func() int{
		func() int { return e.as("192.0.2.50", "/v1/sessions", "", `{"nickname":"a"}`) },
		func() int {
			return e.as("192.0.2.50", e.roomPath("/messages"), e.member, `{"body":"x","client_msg_id":"addr1"}`)
		},
		func() int { return e.as("192.0.2.50", e.roomPath("/read"), proposer, `{"up_to":"1"}`) },
	}
	got := statuses(9, func(i int) int { return routes[i%3]() })
	if got[http.StatusTooManyRequests] != 4 {
		t.Fatalf("one address over several routes: %v, want the last 4 refused", got)
	}
	if st := e.as("192.0.2.51", "/v1/sessions", "", `{"nickname":"b"}`); st != http.StatusCreated {
		t.Fatalf("another address: %d", st)
	}
}
