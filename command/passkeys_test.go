package command

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

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

// TestPasskeyChallengesAreSingleUseAndExpire runs the challenge store on a
// real PostgreSQL: a challenge is taken once (a replay finds nothing), only
// by the ceremony and user it was made for, and not after it expired.
func TestPasskeyChallengesAreSingleUseAndExpire(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL")
	}
	pool := newStore(t)
	st := &snapshotStore{pool: pool, topic: "rooms"}
	if err := st.migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ps := &passkeyStore{pool: pool, scope: "users-" + t.Name()}
	ctx := t.Context()
	sess := &webauthn.SessionData{Challenge: "c1", UserID: []byte("7")}
	save := func(id, kind string, user schemas.ID, expires time.Time) {
		t.Helper()
		if err := ps.saveChallenge(ctx, id, kind, user, sess, expires); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Minute)
	save("a", ceremonyRegister, 7, later)
	if _, err := ps.takeChallenge(ctx, "a", ceremonyLogin, 7); !errors.Is(err, errNoChallenge) {
		t.Fatalf("taken by the other ceremony: %v", err)
	}
	if _, err := ps.takeChallenge(ctx, "a", ceremonyRegister, 8); !errors.Is(err, errNoChallenge) {
		t.Fatalf("taken by another user: %v", err)
	}
	got, err := ps.takeChallenge(ctx, "a", ceremonyRegister, 7)
	if err != nil || got.Challenge != "c1" || string(got.UserID) != "7" {
		t.Fatalf("take: %+v, %v", got, err)
	}
	if _, err := ps.takeChallenge(ctx, "a", ceremonyRegister, 7); !errors.Is(err, errNoChallenge) {
		t.Fatalf("taken twice: %v", err)
	}
	save("b", ceremonyLogin, 0, time.Now().Add(-time.Second))
	if _, err := ps.takeChallenge(ctx, "b", ceremonyLogin, 0); !errors.Is(err, errNoChallenge) {
		t.Fatalf("an expired challenge was taken: %v", err)
	}
	// A later save sweeps the expired one.
	save("c", ceremonyLogin, 0, later)
	var left int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM command_passkey_challenges WHERE scope = $1`, ps.scope).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d challenges stored (%v), want 1: the expired one swept", left, err)
	}
}
