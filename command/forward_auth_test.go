package command

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"happychat/internal/cmdproto"
	"happychat/schemas"
	"happychat/schemas/token"
)

// TestForwardedCommandsAreVerifiedAgain: the internal secret alone makes
// nobody a user or an admin. A forwarded command must carry its caller's
// credential, which the owner verifies and takes the identity from; the
// realtime service's presence secret opens the presence route only. No
// servers: the service is never Run, so a command that passes every check
// waits for the service to start and is answered 503 when its request ends.
func TestForwardedCommandsAreVerifiedAgain(t *testing.T) {
	const (
		internal = testSecret + "-internal"
		presence = testSecret + "-presence"
		room     = "7267000000000000001"
	)
	r, keys := newUnitRoutes(t, func(c *Config) { c.PresenceSecret = presence })
	seven, _, _ := keys.Issue(7, "seven")
	otherKeys, _ := token.New("another-secret-0123456789", time.Hour)
	forged, _, _ := otherKeys.Issue(7, "seven")
	cmd := func(kind Kind, user, extra, credential string) string {
		b := `{"kind":"` + string(kind) + `","room_id":"` + room + `"`
		if user != "" {
			b += `,"user_id":"` + user + `"`
		}
		if credential != "" {
			b += `,"credential":"` + credential + `"`
		}
		return b + extra + `}`
	}
	send := `,"body":"hi","client_msg_id":"c1"`

	tests := []struct {
		name, secret, body string
		status             int
		code               schemas.Code
	}{
		{"a send without credential", internal, cmd(KindSend, "7", send, ""), 401, schemas.CodeUnauthorized},
		{"a send with a forged token", internal, cmd(KindSend, "7", send, forged), 401, schemas.CodeUnauthorized},
		{"a send with a token that is not a token", internal, cmd(KindSend, "7", send, "x.y.z"), 401, schemas.CodeUnauthorized},
		{"a send as another user", internal, cmd(KindSend, "8", send, seven), 403, schemas.CodeForbidden},
		{"a user's token claiming admin", internal, cmd(KindCreateRoom, "7", `,"admin":true,"title":"t"`, seven), 403, schemas.CodeForbidden},
		{"an approval with a user's token", internal, cmd(KindApproveRoom, "", `,"admin":true`, seven), 403, schemas.CodeForbidden},
		{"an approval claiming admin without credential", internal, cmd(KindApproveRoom, "", `,"admin":true`, ""), 401, schemas.CodeUnauthorized},
		{"the admin token acting as a user", internal, cmd(KindJoin, "7", "", testAdmin), 403, schemas.CodeForbidden},
		{"the admin token with a suffix", internal, cmd(KindApproveRoom, "", `,"admin":true`, testAdmin+"x"), 401, schemas.CodeUnauthorized},
		{"a switch-leave (never forwarded)", internal, cmd(kindSwitchLeave, "7", `,"switch_to":"5","switch_join_id":"6"`, seven), 400, schemas.CodeBadRequest},
		{"the presence secret forwarding a command", presence, cmd(KindSend, "7", send, seven), 401, schemas.CodeUnauthorized},
		{"the presence secret making an admin", presence, cmd(KindApproveRoom, "", `,"admin":true`, testAdmin), 401, schemas.CodeUnauthorized},
		{"no secret", "", cmd(KindSend, "7", send, seven), 401, schemas.CodeUnauthorized},
		// Verified, then waiting for the service to start.
		{"a send with its caller's token", internal, cmd(KindSend, "7", send, seven), 503, schemas.CodeUnavailable},
		{"an approval with the admin token", internal, cmd(KindApproveRoom, "", `,"admin":true`, testAdmin), 503, schemas.CodeUnavailable},
		// Moderation (level 5): the admin token kicks, bans and closes as
		// nobody; a user's token never closes nor claims admin.
		{"a kick with the admin token", internal, cmd(KindKick, "", `,"peer":"8"`, testAdmin), 503, schemas.CodeUnavailable},
		{"a close with the admin token", internal, cmd(KindCloseRoom, "", "", testAdmin), 503, schemas.CodeUnavailable},
		{"a kick with its owner's token", internal, cmd(KindKick, "7", `,"peer":"8"`, seven), 503, schemas.CodeUnavailable},
		{"a close with a user's token", internal, cmd(KindCloseRoom, "7", "", seven), 403, schemas.CodeForbidden},
		{"a ban claiming admin with a user's token", internal, cmd(KindBan, "7", `,"admin":true,"peer":"8"`, seven), 403, schemas.CodeForbidden},
		{"the admin token banning as a user", internal, cmd(KindBan, "7", `,"peer":"8"`, testAdmin), 403, schemas.CodeForbidden},
		{"a proposal whose admin flag the token does not back is refused, not downgraded", internal, cmd(KindCreateRoom, "7", `,"admin":true,"title":"t"`, seven), 403, schemas.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, cmdproto.CommandsPath, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.secret != "" {
				req.Header.Set(cmdproto.SecretHeader, tt.secret)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var rep forwardReply
			if err := schemas.StrictUnmarshal(w.Body.Bytes(), &rep); err != nil || rep.Error == nil {
				t.Fatalf("status %d, body %q: not an error reply (%v)", w.Code, w.Body.String(), err)
			}
			if w.Code != tt.status || rep.Error.Code != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", w.Code, rep.Error.Code, rep.Error.Message, tt.status, tt.code)
			}
			if strings.Contains(w.Body.String(), seven) || strings.Contains(w.Body.String(), testAdmin) {
				t.Fatal("the answer replays a credential")
			}
		})
	}

	t.Run("the presence secret opens the presence route", func(t *testing.T) {
		for secret, want := range map[string]int{presence: 503, internal: 503, "": 401, presence + "x": 401} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, cmdproto.PresencePath(7267000000000000001), nil)
			req.Header.Set(cmdproto.SecretHeader, secret)
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			cancel()
			if w.Code != want {
				t.Errorf("secret %q: %d %s, want %d", secret, w.Code, w.Body.String(), want)
			}
		}
	})
}

// TestForwardsAcrossARotation: during a rolling rotation of the token
// secret, instances on either side accept each other's forwards and
// presence requests. The secrets are the real derivations of the token
// secrets; each instance sends with its current one.
func TestForwardsAcrossARotation(t *testing.T) {
	const (
		oldTS   = "the-old-token-secret-0123456789"
		newTS   = "the-new-token-secret-0123456789"
		otherTS = "an-unrelated-token-secret-01234"
		room    = "7267000000000000001"
	)
	// instance builds the routes of an instance whose token secret is
	// current, with previous as CHAT_TOKEN_PREVIOUS_SECRETS.
	instance := func(current string, previous ...string) (*gin.Engine, *token.Keys) {
		return newUnitRoutes(t, func(c *Config) {
			c.InternalSecret, c.PresenceSecret = cmdproto.Secret(current), cmdproto.PresenceSecret(current)
			c.PreviousInternalSecrets, c.PreviousPresenceSecrets = nil, nil
			for _, p := range previous {
				c.PreviousInternalSecrets = append(c.PreviousInternalSecrets, cmdproto.Secret(p))
				c.PreviousPresenceSecrets = append(c.PreviousPresenceSecrets, cmdproto.PresenceSecret(p))
			}
		})
	}
	// forwarded answers the status of a valid send forwarded with secret:
	// 503 (verified, waiting for the service to start) once the secret is
	// accepted, 401 otherwise.
	forwarded := func(r *gin.Engine, keys *token.Keys, secret string) int {
		tok, _, err := keys.Issue(7, "seven")
		if err != nil {
			t.Fatal(err)
		}
		body := `{"kind":"send","room_id":"` + room + `","user_id":"7","credential":"` + tok + `","body":"hi","client_msg_id":"c1"}`
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, cmdproto.CommandsPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(cmdproto.SecretHeader, secret)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	presence := func(r *gin.Engine, secret string) int {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, cmdproto.PresencePath(7267000000000000001), nil)
		req.Header.Set(cmdproto.SecretHeader, secret)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}

	tests := []struct {
		name string
		// the receiving instance's current and previous token secrets
		current  string
		previous []string
		// the sender's current token secret
		sender                    string
		wantForward, wantPresence int
	}{
		{"new instance, old sender", newTS, []string{oldTS}, oldTS, 503, 503},
		{"new instance, new sender", newTS, []string{oldTS}, newTS, 503, 503},
		{"old instance told the new one first, new sender", oldTS, []string{newTS}, newTS, 503, 503},
		{"old instance told the new one first, old sender", oldTS, []string{newTS}, oldTS, 503, 503},
		{"several previous secrets, the oldest sender", newTS, []string{otherTS, oldTS}, oldTS, 503, 503},
		{"old instance not told, new sender", oldTS, nil, newTS, 401, 401},
		{"previous secret dropped, old sender", newTS, nil, oldTS, 401, 401},
		{"a sender of another system", newTS, []string{oldTS}, otherTS, 401, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, keys := instance(tt.current, tt.previous...)
			if got := forwarded(r, keys, cmdproto.Secret(tt.sender)); got != tt.wantForward {
				t.Errorf("forward: %d, want %d", got, tt.wantForward)
			}
			if got := presence(r, cmdproto.PresenceSecret(tt.sender)); got != tt.wantPresence {
				t.Errorf("presence with the presence secret: %d, want %d", got, tt.wantPresence)
			}
			if got := presence(r, cmdproto.Secret(tt.sender)); got != tt.wantPresence {
				t.Errorf("presence with the forwarding secret: %d, want %d", got, tt.wantPresence)
			}
			// A presence secret, current or previous, never forwards.
			if got := forwarded(r, keys, cmdproto.PresenceSecret(tt.sender)); got != 401 {
				t.Errorf("forward with the presence secret: %d, want 401", got)
			}
		})
	}

	t.Run("a short previous secret is refused at start", func(t *testing.T) {
		_, err := New(Config{
			Brokers: []string{"127.0.0.1:1"}, Names: schemas.NamesFor("unit"), InternalSecret: testSecret + "-internal",
			PreviousInternalSecrets: []string{"short"},
			Keys:                    mustKeys(t), AdminToken: testAdmin, Rules: plainRules{}, Store: unusedStore(t),
		})
		if err == nil || !strings.Contains(err.Error(), "previous internal secret") {
			t.Fatalf("New: %v", err)
		}
	})
}
