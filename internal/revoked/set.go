// Package revoked keeps the revoked tokens of the last token lifetime in
// memory, fed by the session.revoked events of the users topic (Tail), and
// answers token.Keys on every verification without a store round trip
// (Set.Check). Every role that verifies user tokens (command, query,
// realtime) runs one per process; see docs/adr/0007-token-revocation.md.
//
// Memory is bounded by the revocations of one token lifetime: an entry is
// forgotten once the tokens it revokes have expired (they are refused as
// expired from then on), and a token can be revoked only once, by a
// logout that itself takes a session's rate limit.
package revoked

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"happychat/schemas"
	"happychat/schemas/token"
)

// sweepEvery is how often Add looks for entries past their expiry: the
// set holds at most a minute of dead entries more than it needs.
const sweepEvery = time.Minute

// session names one token: its user and jti. The user is part of the key
// so that a jti, though random, only ever revokes its own user's token.
type session struct {
	user schemas.ID
	id   string
}

// watermark revokes a user's tokens without a jti issued at or before
// issuedBefore; it is kept until every such token has expired.
type watermark struct {
	issuedBefore time.Time
	until        time.Time
}

// Set is the in-memory set of revoked tokens. Check is safe for concurrent
// use with Add; until MarkReady it answers token.ErrNotReady.
type Set struct {
	now func() time.Time

	mu       sync.RWMutex
	sessions map[session]time.Time // until
	users    map[schemas.ID]watermark
	swept    time.Time
	watchers []func(schemas.ID)

	ready chan struct{}
	once  sync.Once
}

// NewSet returns an empty Set, not ready, reading time from now (nil:
// time.Now).
func NewSet(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	return &Set{now: now, sessions: map[session]time.Time{}, users: map[schemas.ID]watermark{},
		ready: make(chan struct{})}
}

// Check implements token.Revocations: ErrNotReady until the set has read
// the users topic up to its end as of the start, then ErrRevoked for a
// revoked token and nil for any other.
func (s *Set) Check(c token.Claims) error {
	select {
	case <-s.ready:
	default:
		return token.ErrNotReady
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c.SessionID != "" {
		if _, ok := s.sessions[session{c.UserID, c.SessionID}]; ok {
			return token.ErrRevoked
		}
		return nil
	}
	// A token without a jti predates session ids: only the user's
	// watermark can name it.
	if w, ok := s.users[c.UserID]; ok && !c.IssuedAt.After(w.issuedBefore) {
		return token.ErrRevoked
	}
	return nil
}

// Add records the revocation of env (a session.revoked event) and tells the
// watchers. It reports whether the set holds it: a revocation whose tokens
// have all expired already is dropped. Add is idempotent.
func (s *Set) Add(env schemas.Envelope) (bool, error) {
	p, ok := env.Payload.(schemas.SessionRevoked)
	if !ok {
		return false, fmt.Errorf("revoked: %s is not session.revoked", env.Payload.EventType())
	}
	until, err := schemas.ParseTime(p.ExpiresAt)
	if err != nil {
		return false, fmt.Errorf("revoked: expires_at: %w", err)
	}
	now := s.now()
	if !until.After(now) {
		return false, nil
	}
	s.mu.Lock()
	if p.SessionID != "" {
		k := session{env.UserID, p.SessionID}
		if until.After(s.sessions[k]) {
			s.sessions[k] = until
		}
	} else {
		w := s.users[env.UserID]
		if env.OccurredAt.After(w.issuedBefore) {
			w.issuedBefore = env.OccurredAt
		}
		if until.After(w.until) {
			w.until = until
		}
		s.users[env.UserID] = w
	}
	if now.Sub(s.swept) >= sweepEvery {
		s.sweepLocked(now)
	}
	watchers := s.watchers
	s.mu.Unlock()
	for _, f := range watchers {
		f(env.UserID)
	}
	return true, nil
}

// sweepLocked forgets the entries whose tokens have all expired.
func (s *Set) sweepLocked(now time.Time) {
	s.swept = now
	for k, until := range s.sessions {
		if !until.After(now) {
			delete(s.sessions, k)
		}
	}
	for u, w := range s.users {
		if !w.until.After(now) {
			delete(s.users, u)
		}
	}
}

// Len is the number of entries held (sessions and user watermarks).
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions) + len(s.users)
}

// Watch calls f with the user of every revocation Add holds, after the set
// holds it (so a token verified in f is refused): how the realtime service
// learns which sockets to check. f runs on the tailer's goroutine and must
// not block.
func (s *Set) Watch(f func(schemas.ID)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, f)
	s.mu.Unlock()
}

// MarkReady makes Check answer: the tailer has read every revocation that
// existed when it started.
func (s *Set) MarkReady() { s.once.Do(func() { close(s.ready) }) }

// errNotReady is Ready's answer for /readyz.
var errNotReady = errors.New("revoked tokens: still reading the users topic")

// Ready reports, for /readyz, whether Check answers yet.
func (s *Set) Ready(context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
		return errNotReady
	}
}
