package command

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
