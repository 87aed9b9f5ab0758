package realtime

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"happychat/internal/tokentest"
	"happychat/internal/wstest"
	"happychat/schemas"
)

// Hostile input at a stream's request (docs/hostile-inputs.md): every
// refusal comes before the stream's headers, as the contract's error
// envelope naming the field, and never echoes the token. No Kafka: the
// checks are pure logic over a fake presence.
func TestHostileStreams(t *testing.T) {
	keys := testKeys(t)
	const room = schemas.ID(42)
	member, outsider := schemas.ID(7), schemas.ID(8)
	cmds := &staticCommands{seq: 3, members: map[schemas.ID][]schemas.Member{room: {{UserID: member, Nickname: "m"}}}}
	srv := handshakeService(t, cmds, func(c *Config) { c.MaxConnsPerUser = 100 })
	tok, tokO := tokentest.Issue(t, keys, member, "m"), tokentest.Issue(t, keys, outsider, "o")

	tests := []struct {
		name        string
		method      string
		path        string // after /v1/rooms/
		lastEventID string
		origin      string
		status      int
		code        schemas.Code
		names       string // what the message must name
	}{
		{"no token", "GET", "42/events", "", "", 401, schemas.CodeUnauthorized, ""},
		{"forged token", "GET", "42/events?token=" + tok[:len(tok)-4] + "AAAA", "", "", 401, schemas.CodeUnauthorized, ""},
		{"since_seq negative", "GET", "42/events?since_seq=-1&token=" + tok, "", "", 400, schemas.CodeBadRequest, "since_seq"},
		{"since_seq as exponent", "GET", "42/events?since_seq=1e3&token=" + tok, "", "", 400, schemas.CodeBadRequest, "since_seq"},
		{"since_seq above 2^63", "GET", "42/events?since_seq=9223372036854775808&token=" + tok, "", "", 400, schemas.CodeBadRequest, "since_seq"},
		{"since_seq empty", "GET", "42/events?since_seq=&token=" + tok, "", "", 400, schemas.CodeBadRequest, "since_seq"},
		{"Last-Event-ID not a number", "GET", "42/events?token=" + tok, "abc", "", 400, schemas.CodeBadRequest, "Last-Event-ID"},
		{"Last-Event-ID negative", "GET", "42/events?token=" + tok, "-5", "", 400, schemas.CodeBadRequest, "Last-Event-ID"},
		{"Last-Event-ID with a leading zero", "GET", "42/events?token=" + tok, "07", "", 400, schemas.CodeBadRequest, "Last-Event-ID"},
		{"Last-Event-ID of 4 KiB", "GET", "42/events?token=" + tok, strings.Repeat("9", 4096), "", 400, schemas.CodeBadRequest, "Last-Event-ID"},
		{"Last-Event-ID bad beside a good since_seq", "GET", "42/events?since_seq=1&token=" + tok, "1.5", "", 400, schemas.CodeBadRequest, "Last-Event-ID"},
		{"room id not a number", "GET", "abc/events?token=" + tok, "", "", 400, schemas.CodeBadRequest, "id"},
		{"room id above 2^63", "GET", "9223372036854775808/events?token=" + tok, "", "", 400, schemas.CodeBadRequest, "id"},
		{"unknown room", "GET", "43/events?token=" + tok, "", "", 404, schemas.CodeNotFound, ""},
		{"not a member", "GET", "42/events?token=" + tokO, "", "", 403, schemas.CodeForbidden, ""},
		{"foreign origin", "GET", "42/events?token=" + tok, "", "http://evil.example", 403, schemas.CodeForbidden, ""},
		{"POST", "POST", "42/events?token=" + tok, "", "", 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(context.Background(), tt.method, srv.URL+"/v1/rooms/"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.lastEventID != "" {
				req.Header.Set("Last-Event-ID", tt.lastEventID)
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := checkRefusal(t, resp, tt.status, tt.code)
			if !strings.Contains(body, tt.names) || !utf8.ValidString(body) || strings.Contains(body, tok) {
				t.Fatalf("answer does not name %q, is not clean UTF-8 or echoes the token: %q", tt.names, body)
			}
		})
	}

	// After all that, the member's stream opens, presence first.
	resp, err := http.Get(srv.URL + "/v1/rooms/42/events?since_seq=1&token=" + tok) //nolint:noctx // the test's stream
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s := wstest.NewSSE(resp.Body)
	defer s.Close()
	if f, err := s.Next(5 * time.Second); err != nil || f.Type != typePresence || f.SSEEvent != typePresence || f.Seq != 3 {
		t.Fatalf("first event %+v, %v", f, err)
	}
}

// checkRefusal fails unless resp is status with the contract's error
// envelope of code; it returns the body.
func checkRefusal(t *testing.T, resp *http.Response, status int, code schemas.Code) string {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env schemas.ErrorBody
	if resp.StatusCode != status || json.Unmarshal(body, &env) != nil || env.Error == nil || env.Error.Code != code {
		t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, status, code)
	}
	return string(body)
}
