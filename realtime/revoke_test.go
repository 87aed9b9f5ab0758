package realtime

import (
	"testing"
	"time"

	"happychat/internal/revoked"
	"happychat/schemas"
	"happychat/schemas/token"
)

// TestRevokeClosesOnlyTheRevokedToken: Revoke(user) closes, with 4004, the
// sockets opened with a token the keys now refuse as revoked, and no other:
// not the same user's socket of another session, not another user's.
func TestRevokeClosesOnlyTheRevokedToken(t *testing.T) {
	set := revoked.NewSet(nil)
	set.MarkReady()
	keys := testKeys(t).WithRevocations(set)
	s, err := New(Config{Brokers: []string{"x:1"}, Names: schemas.NamesFor("u"), Commands: &staticCommands{}, Keys: keys, Rules: testRules{}})
	if err != nil {
		t.Fatal(err)
	}
	open := func(user schemas.ID) (*conn, token.Claims) {
		tok, _, err := keys.Issue(user, "n")
		if err != nil {
			t.Fatal(err)
		}
		claims, err := keys.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		c := newConn(s, nil, 1, Caller{UserID: user, Token: tok}, claims.Expires, 0, nil)
		if !s.track(c) {
			t.Fatal("not tracked")
		}
		return c, claims
	}
	leaving, claims := open(7)
	sibling, _ := open(7)
	other, _ := open(8)
	if ok, err := set.Add(schemas.Envelope{ID: 1, UserID: 7, OccurredAt: claims.Expires.Add(-time.Hour),
		Payload: schemas.SessionRevoked{SessionID: claims.SessionID, ExpiresAt: schemas.FormatTime(claims.Expires)}}); !ok || err != nil {
		t.Fatalf("Add = %v, %v", ok, err)
	}
	s.Revoke(7)
	s.Revoke(8)
	closed := func(c *conn) bool {
		select {
		case <-c.done:
			return true
		default:
			return false
		}
	}
	if !closed(leaving) || leaving.code != CloseTokenRevoked {
		t.Errorf("the revoked token's socket: closed %v, code %d; want closed with %d", closed(leaving), leaving.code, CloseTokenRevoked)
	}
	if closed(sibling) || closed(other) {
		t.Errorf("closed the same user's other session (%v) or another user's socket (%v)", closed(sibling), closed(other))
	}
}
