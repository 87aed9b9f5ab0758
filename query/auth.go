package query

import (
	"errors"
	"fmt"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Caller is who sent a request. The zero Caller is anonymous: reads of
// rooms, history and analytics are open to anyone.
type Caller struct {
	// UserID is set for a request with a valid user token.
	UserID schemas.ID
	// Admin is set for a request bearing the operator's admin token.
	Admin bool
}

// Authenticated reports whether the caller is a user (unread counts are
// shown only to users).
func (c Caller) Authenticated() bool { return c.UserID != 0 }

// identify maps an Authorization header to a Caller. No header is an
// anonymous caller; a header that is present but not a valid bearer token is
// 401, even on routes anonymous callers may use: a client that meant to
// authenticate must learn that it did not.
func (s *Service) identify(authorization string) (Caller, error) {
	if authorization == "" {
		return Caller{}, nil
	}
	tok, ok := token.FromHeader(authorization)
	if !ok || tok == "" {
		return Caller{}, schemas.Errorf(schemas.CodeUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	if s.adminToken.Matches(tok) {
		return Caller{Admin: true}, nil
	}
	claims, err := s.cfg.Keys.Verify(tok)
	if err != nil {
		return Caller{}, token.Refusal(err)
	}
	return Caller{UserID: claims.UserID}, nil
}

// stillValid returns a check that a long-lived response (an export) runs as
// it goes: an error wrapping token.ErrInvalid once the user token it was
// opened with is revoked or expired. Anonymous and admin callers have no
// user token to lose; "revocations not read yet" (after a restart of the
// tail) is no verdict, so it does not end the stream.
func (s *Service) stillValid(c Caller, authorization string) func() error {
	tok, ok := token.FromHeader(authorization)
	if !c.Authenticated() || !ok {
		return func() error { return nil }
	}
	return func() error {
		if _, err := s.cfg.Keys.Verify(tok); err != nil && !errors.Is(err, token.ErrNotReady) {
			return fmt.Errorf("export's token: %w", err)
		}
		return nil
	}
}
