package command

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/ratelimit"
)

// The global session cap: how many sessions all command instances together
// create in a calendar minute. Session creation is a rare door (a person
// makes one session, not one a second), so it can afford one PostgreSQL
// round trip to count across the cluster, which the per-instance buckets
// of the hot paths cannot. Counting runs after the per-address limit, so a
// flood from one address does not use up everybody's quota.
//
// It fails open: while PostgreSQL does not answer within capTimeout the
// session is created (and the failure logged). Refusing every newcomer
// during a database outage would turn the outage into a lockout, while the
// per-address limit, in memory, still holds each address to its rate; the
// cluster-wide bound then is instances × that rate × addresses in use.
type sessionCap struct {
	pool    *pgxpool.Pool
	scope   string // the users topic: deployments sharing a database count apart
	perMin  int    // 0: no cap
	log     *slog.Logger
	now     func() time.Time
	mu      sync.Mutex
	cleaned time.Time // when old minutes were last deleted
}

const sessionCapSchema = `
CREATE TABLE IF NOT EXISTS command_session_counts (
  scope  text        NOT NULL, -- the users topic
  minute timestamptz NOT NULL, -- PostgreSQL's clock, so instances agree
  n      int         NOT NULL,
  PRIMARY KEY (scope, minute)
);`

// countSession counts one session in the current minute unless the minute
// is full: no row comes back then, and nothing is counted.
const countSession = `
INSERT INTO command_session_counts AS c (scope, minute, n) VALUES ($1, date_trunc('minute', now()), 1)
ON CONFLICT (scope, minute) DO UPDATE SET n = c.n + 1 WHERE c.n < $2
RETURNING n`

const forgetSessionCounts = `DELETE FROM command_session_counts WHERE scope = $1 AND minute < now() - interval '1 hour'`

// capTimeout bounds the count's round trip: past it the cap fails open.
const capTimeout = time.Second

// take counts a session, or refuses it with 429 until the next minute. A
// nil cap counts nothing.
func (c *sessionCap) take(ctx context.Context) error {
	if c == nil || c.perMin <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, capTimeout)
	defer cancel()
	c.forgetOld(ctx)
	var n int
	err := c.pool.QueryRow(ctx, countSession, c.scope, c.perMin).Scan(&n)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		now := c.now()
		return ratelimit.Limited("too many new sessions right now, try again in a minute",
			now.Truncate(time.Minute).Add(time.Minute).Sub(now))
	case err != nil:
		c.log.Warn("session cap: PostgreSQL did not answer; session allowed (the cap fails open)", "err", err)
	}
	return nil
}

// forgetOld deletes counts older than an hour, at most every ten minutes
// per instance: the table stays a few rows per deployment.
func (c *sessionCap) forgetOld(ctx context.Context) {
	c.mu.Lock()
	now := c.now()
	due := now.Sub(c.cleaned) > 10*time.Minute
	if due {
		c.cleaned = now
	}
	c.mu.Unlock()
	if due {
		if _, err := c.pool.Exec(ctx, forgetSessionCounts, c.scope); err != nil {
			c.log.Warn("session cap: forget old counts", "err", err)
		}
	}
}
