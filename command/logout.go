package command

import (
	"context"
	"time"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Logout ends the caller's token on every instance of every role: it
// appends session.revoked to the users topic (key = user id), which every
// service that verifies tokens tails into its in-memory revocations
// (internal/revoked), and the realtime service closes the token's sockets
// (docs/adr/0007-token-revocation.md). The event is committed before the
// answer; instances refuse the token within their tail's delay (typically
// well under a second).
//
// session.revoked is an event of feature level 2: while the cluster is at
// level 1 the logout is refused with 503 and nothing is written.
func (s *Service) Logout(ctx context.Context, c Caller) error {
	if err := c.needUser(); err != nil {
		return forbidden("the admin token is not a session and cannot be logged out")
	}
	claims, err := s.cfg.Keys.Verify(c.Token)
	if err != nil {
		// authenticate verified it a moment ago: a revocation came in
		// meanwhile (a concurrent logout).
		return token.Refusal(err)
	}
	// Refused before an id is minted: nothing is written at level 1.
	if err := s.checkEmit(schemas.SessionRevoked{}); err != nil {
		return err
	}
	return s.revoke(ctx, c.UserID, claims)
}

// revoke appends session.revoked for the token claims describe (a logout,
// or the old token of a rename).
func (s *Service) revoke(ctx context.Context, user schemas.ID, claims token.Claims) error {
	id, err := s.mintID()
	if err != nil {
		return err
	}
	now := s.now()
	rev := schemas.SessionRevoked{SessionID: claims.SessionID, ExpiresAt: schemas.FormatTime(claims.Expires)}
	if claims.SessionID == "" {
		// A token minted before session ids cannot be named alone: every
		// token of the user without one, issued up to now, goes (see
		// schemas.SessionRevoked). Those expire at the latest a token
		// lifetime from now.
		rev.ExpiresAt = schemas.FormatTime(laterOf(claims.Expires, now.Add(s.cfg.Keys.TTL())))
	}
	return s.appendUserEvent(ctx, schemas.Envelope{ID: id, UserID: user, OccurredAt: now, Payload: rev})
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
