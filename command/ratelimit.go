package command

import (
	"happychat/internal/ratelimit"
	"happychat/schemas"
)

// Limits are the command service's limits besides the per-user send and
// join rates of Config. Each is a per-instance token bucket (no store round
// trip): with N instances a key can reach N times its rate at most, since a
// request is limited where it arrives, before forwarding. The exception is
// SessionsPerMinute, shared by every instance through PostgreSQL
// (session_cap.go). A zero rate limits nothing; cmd/internal/config has the
// defaults.
type Limits struct {
	// Addresses finds a request's client address (trusted proxies) and
	// holds the operator's allowlist, exempt from the address limits.
	Addresses ratelimit.Addresses
	// PerAddress limits every public route by client address.
	PerAddress ratelimit.Rate
	// Sessions limits POST /v1/sessions by client address: tokens are free
	// to mint, so without it one script is as many users as it likes. The
	// logout (DELETE /v1/sessions/current) takes the same rate in buckets
	// of its own: each logout is an event every instance keeps in memory
	// for a token lifetime, and logging out must not eat an address's
	// budget of new sessions.
	Sessions ratelimit.Rate
	// SessionsPerMinute caps the sessions all instances together create in
	// a minute (0: no cap). See session_cap.go.
	SessionsPerMinute int
	// Proposals limits room proposals per user (an admin's rooms are not
	// limited).
	Proposals ratelimit.Rate
	// Leaves and ReadMarks limit those writes per user.
	Leaves    ratelimit.Rate
	ReadMarks ratelimit.Rate
	// RoomChurn limits the joins and leaves of one room, whoever makes
	// them: each is an event every member's socket receives.
	RoomChurn ratelimit.Rate
}

// limiter holds the per-instance buckets of the use cases, keyed by user
// (or by room for churn). The address buckets sit on the HTTP routes
// (http.go), where the client address is known. Its zero value (a Service
// built without New, in unit tests) limits nothing.
type limiter struct {
	send, join, leave, readMark, proposal, roomChurn *ratelimit.Buckets[schemas.ID]
}

func newLimiter(cfg Config) limiter {
	user := func(r ratelimit.Rate) *ratelimit.Buckets[schemas.ID] {
		return ratelimit.NewBuckets[schemas.ID](r, ratelimit.Options{})
	}
	return limiter{
		send:      user(ratelimit.Rate{PerSecond: cfg.SendRate, Burst: cfg.SendBurst}),
		join:      user(ratelimit.Rate{PerSecond: cfg.JoinRate, Burst: cfg.JoinBurst}),
		leave:     user(cfg.Limits.Leaves),
		readMark:  user(cfg.Limits.ReadMarks),
		proposal:  user(cfg.Limits.Proposals),
		roomChurn: user(cfg.Limits.RoomChurn),
	}
}

// allow takes one token for key from b, or returns a rate_limited error
// saying when to retry.
func allow(b *ratelimit.Buckets[schemas.ID], key schemas.ID, message string) error {
	if ok, wait := b.Allow(key); !ok {
		return ratelimit.Limited(message, wait)
	}
	return nil
}

const slowDown = "too many requests, slow down"

// doors are the address limits of the public routes: every route's, and
// the session routes' own.
type doors struct {
	all, sessions, logouts, renames, passkeys *ratelimit.PerAddress
}

func newDoors(l Limits) doors {
	return doors{
		all:      ratelimit.NewPerAddress(l.Addresses, l.PerAddress, "too many requests from this address, slow down", ratelimit.Options{}),
		sessions: ratelimit.NewPerAddress(l.Addresses, l.Sessions, "too many new sessions from this address, try again later", ratelimit.Options{}),
		logouts:  ratelimit.NewPerAddress(l.Addresses, l.Sessions, "too many logouts from this address, try again later", ratelimit.Options{}),
		renames:  ratelimit.NewPerAddress(l.Addresses, l.Sessions, "too many renames from this address, try again later", ratelimit.Options{}),
		// Every passkey and recovery route counts here: a ceremony is a
		// begin and a finish, so the burst is the sessions' doubled.
		passkeys: ratelimit.NewPerAddress(l.Addresses, ratelimit.Rate{PerSecond: 2 * l.Sessions.PerSecond, Burst: 2 * l.Sessions.Burst},
			"too many passkey requests from this address, try again later", ratelimit.Options{}),
	}
}
