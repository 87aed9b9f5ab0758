package command

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/schemas"
)

// Logout's refusals, decided before anything is appended: the admin token
// is no session, and at cluster level 1 the event may not be written (the
// refusal comes before an id is minted). The last case passes every check
// and stops at minting the id: this service holds no node id lease.
func TestLogoutRefusals(t *testing.T) {
	tests := []struct {
		name     string
		level    int32
		caller   Caller
		wantCode schemas.Code
	}{
		{"the admin token is no session", 2, Caller{Admin: true, Token: testAdmin}, schemas.CodeForbidden},
		{"a token the keys refuse", 2, Caller{UserID: 1, Token: "a.b.c"}, schemas.CodeUnauthorized},
		{"cluster level 1", 1, testCaller(1, "n"), schemas.CodeUnavailable},
		{"level 2: on to minting the id", 2, testCaller(1, "n"), schemas.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{cfg: Config{Keys: mustKeys(t), Clock: time.Now}, running: make(chan struct{})}
			s.level.Store(tt.level)
			err := s.Logout(t.Context(), tt.caller)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			feature := strings.Contains(err.Error(), "feature level")
			if feature != (tt.level == 1) {
				t.Fatalf("err %v: the feature-level refusal %s", err, map[bool]string{true: "at level 2", false: "missing at level 1"}[feature])
			}
		})
	}
}

// TestLogoutNeedsFeatureLevel2: while the cluster is at level 1 the logout
// is refused with 503 (the feature-level error, in the contract's
// envelope) and nothing reaches the users topic; once the operator raised
// the level (happychat features --set 2 runs SetFeatureLevel), the same
// logout is 204 and the topic holds exactly one session.revoked, naming
// the token's session and expiry.
func TestLogoutNeedsFeatureLevel2(t *testing.T) {
	c := newCluster(t, 1)
	in := c.start(0, 20)
	c.waitOwned(in)
	<-in.svc.running
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	user := testCaller(7267000000000000077, "leaver")
	claims, err := c.keys.Verify(user.Token)
	if err != nil {
		t.Fatal(err)
	}
	logout := func(tok string) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+in.addr+"/v1/sessions/current", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return do(t, req)
	}
	revocations := func() []schemas.Envelope {
		var out []schemas.Envelope
		err := logread.Read(ctx, c.brokers, c.names.Users, logread.HighWatermark, func(r *kgo.Record) error {
			e, err := schemas.Events.Decode(r.Value)
			if err != nil {
				return err
			}
			if _, ok := e.Payload.(schemas.SessionRevoked); ok {
				out = append(out, e)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	st, body := logout(user.Token)
	if st != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"unavailable"`) || !strings.Contains(string(body), "feature level") {
		t.Fatalf("logout at level 1: %d %s, want 503 unavailable naming the feature level", st, body)
	}
	if st, body := logout(testAdmin); st != http.StatusForbidden {
		t.Errorf("logout of the admin token: %d %s, want 403", st, body)
	}
	if st, body := logout(""); st != http.StatusUnauthorized {
		t.Errorf("logout without a token: %d %s, want 401", st, body)
	}
	if n := len(revocations()); n != 0 {
		t.Fatalf("%d session.revoked on the users topic at level 1, want 0", n)
	}

	if err := SetFeatureLevel(ctx, c.store, c.names, 2); err != nil {
		t.Fatal(err)
	}
	// The instance reads the level at its next lease renewal; until then
	// the logout is refused as before, writing nothing.
	refused := 0
	for st == http.StatusServiceUnavailable && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		refused++
		st, body = logout(user.Token)
	}
	if st != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("logout at level 2 (after %d refusals): %d %q, want 204 without a body", refused, st, body)
	}
	revs := revocations()
	if len(revs) != 1 {
		t.Fatalf("%d session.revoked on the users topic, want 1 (one logout succeeded, %d were refused)", len(revs), refused+1)
	}
	e := revs[0]
	p := e.Payload.(schemas.SessionRevoked)
	if e.UserID != user.UserID || p.SessionID != claims.SessionID || p.SessionID == "" || p.ExpiresAt != schemas.FormatTime(claims.Expires) {
		t.Errorf("revocation %+v %+v, want user %d, session %q, expiry %s", e, p, user.UserID, claims.SessionID, schemas.FormatTime(claims.Expires))
	}
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
