package command

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"happychat/schemas"
)

func TestRecoveryCodes(t *testing.T) {
	codes, err := newRecoveryCodes(recoveryCodes)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]bool{}
	for _, c := range codes {
		if len(c) != recoveryCodeLen+1 || c[5] != '-' || strings.ToLower(c) != c {
			t.Fatalf("code %q: want 5 + dash + 5 lower-case characters", c)
		}
		h := hashRecoveryCode(c)
		if seen[h] {
			t.Fatalf("code %q twice", c)
		}
		seen[h] = true
		// As a person may type it: upper case, spaces, no dash.
		typed := strings.ToUpper(c[:5]) + " " + c[6:]
		if hashRecoveryCode(typed) != h {
			t.Fatalf("%q and %q hash apart", typed, c)
		}
	}
	if len(seen) != recoveryCodes {
		t.Fatalf("%d codes, want %d", len(seen), recoveryCodes)
	}
	if hashRecoveryCode(codes[0]) == hashRecoveryCode(codes[0]+"x") {
		t.Fatal("a longer code hashes like the code")
	}
}

func TestPasskeyAnswerCheck(t *testing.T) {
	tests := []struct {
		name string
		in   passkeyAnswer
		want string // a part of the refusal; "" for none
	}{
		{"complete", passkeyAnswer{ChallengeID: "abc", Credential: []byte(`{}`)}, ""},
		{"no challenge id", passkeyAnswer{Credential: []byte(`{}`)}, "challenge_id is required"},
		{"a challenge id too long", passkeyAnswer{ChallengeID: strings.Repeat("a", 65), Credential: []byte(`{}`)}, "challenge_id is longer"},
		{"no credential", passkeyAnswer{ChallengeID: "abc"}, "credential is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.check()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if code(err) != schemas.CodeBadRequest || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want bad_request with %q", err, tt.want)
			}
		})
	}
}

func TestCeremonyRefusal(t *testing.T) {
	err := ceremonyRefusal(schemas.CodeUnauthorized, "the passkey was not accepted", protocol.ErrVerification.WithDetails("Error validating origin"))
	if code(err) != schemas.CodeUnauthorized || !strings.Contains(err.Error(), "Error validating origin") {
		t.Fatalf("got %v", err)
	}
	// Long or foreign explanations are not repeated.
	long := ceremonyRefusal(schemas.CodeBadRequest, "credential", protocol.ErrBadRequest.WithDetails(strings.Repeat("x", 500)))
	if len(long.Error()) > 100 || !strings.Contains(long.Error(), "could not be verified") {
		t.Fatalf("got %v", long)
	}
	if plain := ceremonyRefusal(schemas.CodeBadRequest, "credential", errors.New("boom")); !strings.Contains(plain.Error(), "could not be verified") {
		t.Fatalf("got %v", plain)
	}
}

func TestPasskeysNeedOrigins(t *testing.T) {
	w, err := newWebAuthn(WebAuthnConfig{RPID: "localhost"})
	if err != nil || w != nil {
		t.Fatalf("without origins: %v, %v; want passkeys off", w, err)
	}
	s := &Service{}
	if err := s.passkeysEnabled(); code(err) != schemas.CodeUnavailable {
		t.Fatalf("passkeys off: %v, want unavailable", err)
	}
	if w, err = newWebAuthn(WebAuthnConfig{RPID: "localhost", Origins: []string{"http://localhost:8080"}}); err != nil || w == nil {
		t.Fatalf("with an origin: %v", err)
	}
}
