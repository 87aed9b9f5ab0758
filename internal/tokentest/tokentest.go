// Package tokentest issues session tokens for tests that call the services
// as a given user. Test support only; it imports no role package.
package tokentest

import (
	"testing"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Issue returns a token of k for user with nickname nick, and fails the test
// if k cannot issue one.
func Issue(t testing.TB, k *token.Keys, user schemas.ID, nick string) string {
	t.Helper()
	tok, _, err := k.Issue(user, nick)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
