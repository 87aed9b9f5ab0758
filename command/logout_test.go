package command

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/ratelimit"
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

// TestLogoutFlood: logouts are limited per client address like session
// creation (the same rate), in buckets of their own: past the burst an
// address gets 429 with Retry-After before its token is even read, another
// address is served, and the flooding address may still create sessions.
// The service never runs, so a logout that passes the limit stops at the
// feature level (503): the limit alone is under test.
func TestLogoutFlood(t *testing.T) {
	const burst = 3
	routes, keys := newUnitRoutes(t, func(c *Config) {
		c.Limits.Addresses.Trusted = loopback
		c.Limits.Sessions = ratelimit.Rate{PerSecond: 0.001, Burst: burst}
	})
	tok, _, err := keys.Issue(7267000000000000078, "flood")
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, addr, bearer, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", addr)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		routes.ServeHTTP(w, req)
		if w.Code == http.StatusTooManyRequests {
			checkLimited(t, w.Header(), w.Body.Bytes())
		}
		return w.Code
	}
	logout := func(addr string) func(int) int {
		return func(int) int { return call(http.MethodDelete, "/v1/sessions/current", addr, tok, "") }
	}
	got := statuses(10, logout("198.51.100.7"))
	if got[http.StatusServiceUnavailable] != burst || got[http.StatusTooManyRequests] != 10-burst {
		t.Fatalf("logout flood from one address: %v, want %d past the limit (503 at level 0) and the rest 429", got, burst)
	}
	if got := statuses(1, logout("198.51.100.8")); got[http.StatusTooManyRequests] != 0 {
		t.Fatalf("another address: %v, want not limited", got)
	}
	session := func(int) int {
		return call(http.MethodPost, "/v1/sessions", "198.51.100.7", "", `{"nickname":"after"}`)
	}
	if got := statuses(burst, session); got[http.StatusTooManyRequests] != 0 {
		t.Fatalf("sessions from the address that flooded logouts: %v, want its own burst", got)
	}
}
