package token

import (
	"strings"
	"testing"
)

func TestAdmin(t *testing.T) {
	const secret = "an-admin-token-of-at-least-32-characters"
	a, err := NewAdmin(secret)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Matches(secret) {
		t.Fatal("the token does not match itself")
	}
	for _, tok := range []string{"", "x", secret + "x", secret[:len(secret)-1], strings.ToUpper(secret), " " + secret, secret + "\x00"} {
		if a.Matches(tok) {
			t.Errorf("matches %q", tok)
		}
	}
	var none Admin
	if none.Matches("") || none.Matches(secret) {
		t.Fatal("the zero Admin matches")
	}
	if a, err := NewAdmin(""); err != nil || a.Matches("") {
		t.Fatalf("NewAdmin(\"\") = %v, %v; want no admin", a, err)
	}
	for _, short := range []string{"x", "change-me", strings.Repeat("a", MinAdminTokenLen-1)} {
		if _, err := NewAdmin(short); err == nil || !strings.Contains(err.Error(), "at least 32 characters") {
			t.Errorf("NewAdmin(%q) = %v, want refused", short, err)
		} else if len(short) > 3 && strings.Contains(err.Error(), short) {
			t.Errorf("the refusal quotes the secret: %v", err)
		}
	}
	if _, err := NewAdmin(strings.Repeat("a", MinAdminTokenLen)); err != nil {
		t.Errorf("a token of exactly %d characters is refused: %v", MinAdminTokenLen, err)
	}
}
