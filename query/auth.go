package query

import (
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
