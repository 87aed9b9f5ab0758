package realtime

import (
	"errors"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Revoke closes, with CloseTokenRevoked, the sockets of user on this
// instance whose token no longer verifies because it was revoked. The
// process calls it for every revocation its Keys learn of
// (internal/revoked), after they refuse the token; a socket of the user
// opened with another, still valid token stays open. It never blocks
// (conn.fail does not): it runs on the revocations' tail.
//
// It walks every socket of the instance: revocations are rare (one per
// logout, and logouts are rate-limited like new sessions), so a per-user
// index would cost every handshake for little.
func (s *Service) Revoke(user schemas.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.caller.UserID != user {
			continue
		}
		if _, err := s.cfg.Keys.Verify(c.caller.Token); errors.Is(err, token.ErrRevoked) {
			c.fail(CloseTokenRevoked, "token revoked", false)
		}
	}
}
