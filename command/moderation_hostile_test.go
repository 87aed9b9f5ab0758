package command

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// TestModerationHostileInputs: the refusals of blocks, reports and
// resolutions that need no servers (docs/hostile-inputs.md): each is
// refused before any state is read, with the field and the rule.
func TestModerationHostileInputs(t *testing.T) {
	r, keys := newUnitRoutes(t, nil)
	user, _, err := keys.Issue(7, "seven")
	if err != nil {
		t.Fatal(err)
	}
	const message = "/v1/rooms/7267000000000000001/messages/7267000000000000002"
	cases := []struct {
		name, method, path, auth, body string
		status                         int
		want                           string // in the message
	}{
		{"block self", "POST", "/v1/me/blocks", user, `{"user_id":"7"}`, 400, "block yourself"},
		{"block no one", "POST", "/v1/me/blocks", user, `{"user_id":"0"}`, 400, "user_id"},
		{"block as admin", "POST", "/v1/me/blocks", testAdmin, `{"user_id":"8"}`, 403, "user session"},
		{"block unauthenticated", "POST", "/v1/me/blocks", "", `{"user_id":"8"}`, 401, "bearer"},
		{"unblock not an id", "DELETE", "/v1/me/blocks/abc", user, ``, 400, "user_id"},
		{"unblock self", "DELETE", "/v1/me/blocks/7", user, ``, 400, "block yourself"},
		{"bad reason", "POST", message + "/reports", user, `{"reason":"boring"}`, 400, "reason must be one of"},
		{"no reason", "POST", message + "/reports", user, `{}`, 400, "reason"},
		{"oversized note", "POST", message + "/reports", user, `{"reason":"spam","note":"` + strings.Repeat("가", schemas.MaxReportNote+1) + `"}`, 400, "note is longer than 500"},
		{"control note", "POST", message + "/reports", user, `{"reason":"spam","note":"a\u0007b"}`, 400, "note must not contain control"},
		{"report as admin", "POST", message + "/reports", testAdmin, `{"reason":"spam"}`, 403, "user session"},
		{"resolve as a user", "POST", "/v1/admin/reports/7267000000000000003/resolve", user, `{"outcome":"dismissed"}`, 403, "only an admin"},
		{"resolve bad outcome", "POST", "/v1/admin/reports/7267000000000000003/resolve", testAdmin, `{"outcome":"ban"}`, 400, "outcome must be"},
		{"resolve not an id", "POST", "/v1/admin/reports/x/resolve", testAdmin, `{"outcome":"dismissed"}`, 400, "report id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, c.method, c.path, strings.NewReader(c.body))
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if c.auth != "" {
				req.Header.Set("Authorization", "Bearer "+c.auth)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var eb schemas.ErrorBody
			if err := schemas.StrictUnmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == nil {
				t.Fatalf("status %d, body %q is not the error envelope", w.Code, w.Body.String())
			}
			if w.Code != c.status || !strings.Contains(eb.Error.Message, c.want) {
				t.Errorf("%d %+v, want %d with %q", w.Code, eb.Error, c.status, c.want)
			}
		})
	}
}
