package cmdproto

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

func TestPresencePathMatchesTheRoute(t *testing.T) {
	const room = schemas.ID(7267000000000000001)
	if got, want := PresencePath(room), strings.Replace(PresenceRoute, ":id", room.String(), 1); got != want {
		t.Fatalf("PresencePath = %s, want %s", got, want)
	}
}

// TestSecretIsStable pins the derivation: instances of two builds (a rolling
// upgrade) must derive the same secret from the same token secret.
func TestSecretIsStable(t *testing.T) {
	const want = "b24aab0960e278d8d49776eaf0c5633e515c5e73d8d8aa67ed5fa39b7520681c"
	if got := Secret("a-token-secret-of-32-bytes-xxxxx"); got != want {
		t.Fatalf("Secret = %s, want %s", got, want)
	}
}

// TestSecretsAreSeparate: the realtime service's presence secret is not the
// forwarding secret, and SecretMatches takes only the exact secret.
func TestSecretsAreSeparate(t *testing.T) {
	const ts = "a-token-secret-of-32-bytes-xxxxx"
	fwd, pres := Secret(ts), PresenceSecret(ts)
	if fwd == pres || SecretMatches(pres, fwd) || SecretMatches(fwd, pres) {
		t.Fatal("the presence secret opens the forwarding route")
	}
	if !SecretMatches(fwd, fwd) {
		t.Fatal("a secret does not match itself")
	}
	for _, got := range []string{"", fwd[:63], fwd + "0", strings.ToUpper(fwd)} {
		if SecretMatches(got, fwd) {
			t.Errorf("%q matches", got)
		}
	}
}

func TestNewClientRefusesNonHTTPURLs(t *testing.T) {
	for _, base := range []string{"", "localhost:8080", "ftp://host", "http://", "://x"} {
		if _, err := NewClient(base, "s"); err == nil {
			t.Errorf("NewClient(%q) accepted", base)
		}
	}
	if _, err := NewClient("https://command.internal:8443/", "s"); err != nil {
		t.Errorf("NewClient refused an https URL: %v", err)
	}
}

func TestClient(t *testing.T) {
	const (
		secret = "internal-secret"
		room   = schemas.ID(42)
	)
	var answer func(w http.ResponseWriter, r *http.Request)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { answer(w, r) }))
	defer srv.Close()
	c, err := NewClient(srv.URL+"/", secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	t.Run("send carries the caller's token and decodes the message", func(t *testing.T) {
		answer = func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.URL.Path != "/v1/rooms/42/messages" ||
				r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get(SecretHeader) != secret ||
				string(b) != `{"body":"hi","client_msg_id":"c1"}` {
				t.Errorf("request %s %s %v %s", r.Method, r.URL.Path, r.Header, b)
			}
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"9","room_id":"42","body":"hi","client_msg_id":"c1","seq":3}`)
		}
		m, err := c.Send(ctx, "tok", room, "hi", "c1")
		if err != nil || m.ID != 9 || m.Seq != 3 || m.Body != "hi" {
			t.Fatalf("Send = %+v, %v", m, err)
		}
	})
	t.Run("presence carries the secret", func(t *testing.T) {
		answer = func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || r.URL.Path != PresencePath(room) || r.Header.Get(SecretHeader) != secret {
				t.Errorf("request %s %s %v", r.Method, r.URL.Path, r.Header)
			}
			_, _ = io.WriteString(w, `{"members":[{"user_id":"7","nickname":"seven"}],"seq":12}`)
		}
		members, seq, err := c.Presence(ctx, room)
		if err != nil || seq != 12 || len(members) != 1 || members[0].UserID != 7 {
			t.Fatalf("Presence = %+v, %d, %v", members, seq, err)
		}
	})

	errTests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   schemas.Error
	}{
		{
			name: "an error envelope comes back with its Retry-After",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"error":{"code":"rate_limited","message":"slow down"}}`)
			},
			want: schemas.Error{Code: schemas.CodeRateLimited, Message: "slow down", RetryAfter: 3 * time.Second},
		},
		{
			name: "a not-found room",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no such room"}}`)
			},
			want: schemas.Error{Code: schemas.CodeNotFound, Message: "no such room"},
		},
		{
			name: "an answer that is not the envelope is unavailable",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, "<html>bad gateway</html>")
			},
			want: schemas.Error{Code: schemas.CodeUnavailable, Message: "the command service answered 502"},
		},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			answer = tt.answer
			_, _, err := c.Presence(ctx, room)
			var e *schemas.Error
			if !errors.As(err, &e) || *e != tt.want {
				t.Fatalf("Presence error %#v, want %#v", err, tt.want)
			}
		})
	}

	t.Run("an unreachable service is unavailable, retry in a second", func(t *testing.T) {
		down, err := NewClient("http://127.0.0.1:1", secret)
		if err != nil {
			t.Fatal(err)
		}
		_, err = down.Send(ctx, "tok", room, "hi", "c1")
		var e *schemas.Error
		if !errors.As(err, &e) || e.Code != schemas.CodeUnavailable || e.RetryAfter != time.Second || strings.Contains(err.Error(), "tok") {
			t.Fatalf("Send error %v", err)
		}
	})
}
