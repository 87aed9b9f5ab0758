package token

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"happychat/schemas"
)

// revokeList is a Revocations over a fixed list of session ids, and a switch
// for not ready.
type revokeList struct {
	sessions map[string]bool
	notReady bool
	asked    int
}

func (r *revokeList) Check(c Claims) error {
	r.asked++
	if r.notReady {
		return ErrNotReady
	}
	if r.sessions[c.SessionID] {
		return ErrRevoked
	}
	return nil
}

func TestIssueNamesASession(t *testing.T) {
	k := keysAt(t, secret, t0)
	seen := map[string]bool{}
	for range 100 {
		tok, _, err := k.Issue(user, "n")
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.SessionID) != 22 {
			t.Fatalf("session id %q: want 22 base64url characters (128 bits)", c.SessionID)
		}
		if seen[c.SessionID] {
			t.Fatalf("session id %q minted twice", c.SessionID)
		}
		seen[c.SessionID] = true
		if !c.IssuedAt.Equal(t0) {
			t.Fatalf("issued at %v, want %v", c.IssuedAt, t0)
		}
	}
}

func TestVerifyAsksRevocations(t *testing.T) {
	base := keysAt(t, secret, t0)
	tokA, _, err := base.Issue(user, "a")
	if err != nil {
		t.Fatal(err)
	}
	tokB, _, err := base.Issue(user+1, "b")
	if err != nil {
		t.Fatal(err)
	}
	a, err := base.Verify(tokA)
	if err != nil {
		t.Fatal(err)
	}
	list := &revokeList{sessions: map[string]bool{}}
	k := base.WithRevocations(list)
	// Twice each: the second verification comes from the cache, which
	// must not skip the revocations.
	for range 2 {
		if _, err := k.Verify(tokA); err != nil {
			t.Fatalf("before revocation: %v", err)
		}
	}
	list.sessions[a.SessionID] = true
	for range 2 {
		if _, err := k.Verify(tokA); !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrInvalid) {
			t.Fatalf("revoked token: %v, want ErrRevoked wrapping ErrInvalid", err)
		}
		if _, err := k.Verify(tokB); err != nil {
			t.Fatalf("another session: %v", err)
		}
	}
	if _, err := base.Verify(tokA); err != nil {
		t.Fatalf("keys without revocations refuse: %v", err)
	}
	list.notReady = true
	if _, err := k.Verify(tokB); !errors.Is(err, ErrNotReady) || errors.Is(err, ErrInvalid) {
		t.Fatalf("not ready: %v, want ErrNotReady (not ErrInvalid)", err)
	}
	// A token refused for itself never reaches the revocations.
	asked := list.asked
	if _, err := k.Verify("a.b.c"); !errors.Is(err, ErrInvalid) || list.asked != asked {
		t.Fatalf("malformed token: %v, asked %d times more", err, list.asked-asked)
	}
	if k.WithClock(time.Now).revoked == nil {
		t.Fatal("WithClock dropped the revocations")
	}
}

func TestRefusal(t *testing.T) {
	if e := Refusal(ErrNotReady); e.Code != schemas.CodeUnavailable || e.RetryAfter <= 0 {
		t.Errorf("not ready: %+v, want unavailable with Retry-After", e)
	}
	for _, err := range []error{ErrRevoked, ErrInvalid, errors.New("other")} {
		e := Refusal(err)
		if e.Code != schemas.CodeUnauthorized || e.Code.Status() != http.StatusUnauthorized {
			t.Errorf("%v: %+v, want 401 unauthorized", err, e)
		}
	}
}
