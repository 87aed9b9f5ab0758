package command

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"happychat/internal/clientjson"
	"happychat/internal/cmdproto"
	"happychat/schemas"
	"happychat/schemas/token"
)

// TestHTTPErrors covers every error the write routes give before a command
// reaches an owner: authentication, media type, size, strict decoding, field
// validation, ids, rate limits. No servers: the service is never Run, so a
// request that passes every check waits for the owner and times out (503).
func TestHTTPErrors(t *testing.T) {
	r, keys := newUnitRoutes(t, func(c *Config) { c.JoinRate, c.JoinBurst = 0.001, 1 })
	user, _, _ := keys.Issue(7, "seven")
	expired, _, _ := keys.WithClock(func() time.Time { return time.Now().Add(-48 * time.Hour) }).Issue(7, "old")
	otherKeys, _ := token.New("another-secret-0123456789", time.Hour)
	forged, _, _ := otherKeys.Issue(7, "forged")
	const room = "/v1/rooms/7267000000000000001"

	tests := []struct {
		name, method, path, auth, ctype, body string
		status                                int
		code                                  schemas.Code
	}{
		{"session: not JSON", "POST", "/v1/sessions", "", "text/plain", `nickname=x`, 415, schemas.CodeUnsupportedMediaType},
		{"session: no content type", "POST", "/v1/sessions", "", "", `{"nickname":"x"}`, 415, schemas.CodeUnsupportedMediaType},
		{"session: empty nickname", "POST", "/v1/sessions", "", "application/json", `{"nickname":"  "}`, 400, schemas.CodeBadRequest},
		{"session: nickname too long", "POST", "/v1/sessions", "", "application/json", `{"nickname":"` + strings.Repeat("가", 33) + `"}`, 400, schemas.CodeBadRequest},
		{"session: control character", "POST", "/v1/sessions", "", "application/json", `{"nickname":"a\u0007b"}`, 400, schemas.CodeBadRequest},
		{"session: RTL override", "POST", "/v1/sessions", "", "application/json", `{"nickname":"a\u202eb"}`, 400, schemas.CodeBadRequest},
		{"session: unknown field", "POST", "/v1/sessions", "", "application/json", `{"nickname":"x","admin":true}`, 400, schemas.CodeBadRequest},
		{"session: duplicate key", "POST", "/v1/sessions", "", "application/json", `{"nickname":"x","nickname":"y"}`, 400, schemas.CodeBadRequest},
		{"session: case-variant key", "POST", "/v1/sessions", "", "application/json", `{"Nickname":"x"}`, 400, schemas.CodeBadRequest},
		{"room: unknown field, in words (issue 15)", "POST", "/v1/rooms", "Bearer " + testAdmin, "application/json", `{"title":"t","status":"open"}`, 400, schemas.CodeBadRequest},
		{"session: trailing data", "POST", "/v1/sessions", "", "application/json", `{"nickname":"x"} {}`, 400, schemas.CodeBadRequest},
		{"session: wrong type", "POST", "/v1/sessions", "", "application/json", `{"nickname":42}`, 400, schemas.CodeBadRequest},
		{"session: invalid UTF-8", "POST", "/v1/sessions", "", "application/json", "{\"nickname\":\"a\xffb\"}", 400, schemas.CodeBadRequest},
		{"session: lone surrogate", "POST", "/v1/sessions", "", "application/json", `{"nickname":"\ud800"}`, 400, schemas.CodeBadRequest},
		{"session: body too large", "POST", "/v1/sessions", "", "application/json", `{"nickname":"` + strings.Repeat("a", 70<<10) + `"}`, 413, schemas.CodePayloadTooLarge},
		{"room: no token", "POST", "/v1/rooms", "", "application/json", `{"title":"t"}`, 401, schemas.CodeUnauthorized},
		{"room: not bearer", "POST", "/v1/rooms", "Basic abc", "application/json", `{"title":"t"}`, 401, schemas.CodeUnauthorized},
		{"room: malformed token", "POST", "/v1/rooms", "Bearer abc", "application/json", `{"title":"t"}`, 401, schemas.CodeUnauthorized},
		{"room: forged token", "POST", "/v1/rooms", "Bearer " + forged, "application/json", `{"title":"t"}`, 401, schemas.CodeUnauthorized},
		{"room: expired token", "POST", "/v1/rooms", "Bearer " + expired, "application/json", `{"title":"t"}`, 401, schemas.CodeUnauthorized},
		{"room: alg none", "POST", "/v1/rooms", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI3IiwiaXNzIjoiaGFwcHljaGF0In0.", "application/json", `{"title":"t"}`, 401, schemas.CodeUnauthorized},
		{"room: title too long", "POST", "/v1/rooms", "Bearer " + testAdmin, "application/json", `{"title":"` + strings.Repeat("a", 101) + `"}`, 400, schemas.CodeBadRequest},
		{"room: description too long", "POST", "/v1/rooms", "Bearer " + testAdmin, "application/json", `{"title":"t","description":"` + strings.Repeat("a", 501) + `"}`, 400, schemas.CodeBadRequest},
		{"approve: by a user", "POST", room + "/approve", "Bearer " + user, "", "", 403, schemas.CodeForbidden},
		{"join: bad room id", "POST", "/v1/rooms/abc/join", "Bearer " + user, "", "", 400, schemas.CodeBadRequest},
		{"join: room id above 2^63", "POST", "/v1/rooms/99999999999999999999/join", "Bearer " + user, "", "", 400, schemas.CodeBadRequest},
		{"join: admin has no user", "POST", room + "/join", "Bearer " + testAdmin, "", "", 403, schemas.CodeForbidden},
		{"join: body not JSON", "POST", room + "/join", "Bearer " + user, "text/plain", "hello", 415, schemas.CodeUnsupportedMediaType},
		{"send: empty body", "POST", room + "/messages", "Bearer " + user, "application/json", `{"body":"","client_msg_id":"a"}`, 400, schemas.CodeBadRequest},
		{"send: body too long", "POST", room + "/messages", "Bearer " + user, "application/json", `{"body":"` + strings.Repeat("😀", 2001) + `","client_msg_id":"a"}`, 400, schemas.CodeBadRequest},
		{"send: NUL", "POST", room + "/messages", "Bearer " + user, "application/json", `{"body":"a\u0000","client_msg_id":"a"}`, 400, schemas.CodeBadRequest},
		{"send: missing client_msg_id", "POST", room + "/messages", "Bearer " + user, "application/json", `{"body":"hi"}`, 400, schemas.CodeBadRequest},
		{"send: hostile client_msg_id", "POST", room + "/messages", "Bearer " + user, "application/json", `{"body":"hi","client_msg_id":"<script>"}`, 400, schemas.CodeBadRequest},
		{"read: id as number", "POST", room + "/read", "Bearer " + user, "application/json", `{"up_to":7267000000000000001}`, 400, schemas.CodeBadRequest},
		{"read: missing up_to", "POST", room + "/read", "Bearer " + user, "application/json", `{}`, 400, schemas.CodeBadRequest},
		{"read: unknown room", "POST", room + "/read", "Bearer " + user, "application/json", `{"up_to":"5"}`, 404, schemas.CodeNotFound},
		{"internal: no secret", "POST", cmdproto.CommandsPath, "", "application/json", `{}`, 401, schemas.CodeUnauthorized},
		// Passes every check, then finds no owner (never Run): 503, and it
		// spends the join token of this user.
		{"join: no owner yet", "POST", room + "/join", "Bearer " + user, "", "", 503, schemas.CodeUnavailable},
		{"join: rate limited", "POST", room + "/join", "Bearer " + user, "", "", 429, schemas.CodeRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var body schemas.ErrorBody
			if err := schemas.StrictUnmarshal(w.Body.Bytes(), &body); err != nil || body.Error == nil {
				t.Fatalf("status %d, body %q is not the error envelope: %v", w.Code, w.Body.String(), err)
			}
			if w.Code != tt.status || body.Error.Code != tt.code {
				t.Fatalf("got %d %s (%s), want %d %s", w.Code, body.Error.Code, body.Error.Message, tt.status, tt.code)
			}
			if clientjson.NamesGoInternals(body.Error.Message) {
				t.Fatalf("the message names Go internals: %s", body.Error.Message)
			}
			if want, ok := plainWords[tt.name]; ok && body.Error.Message != want {
				t.Fatalf("message %q, want %q", body.Error.Message, want)
			}
			if tt.status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		})
	}
}

// plainWords are the messages a client author reads for some refusals of
// TestHTTPErrors: the field and the rule, no Go type.
var plainWords = map[string]string{
	"room: unknown field, in words (issue 15)": `unknown field "status"`,
	"session: unknown field":                   `unknown field "admin"`,
	"session: duplicate key":                   `duplicate field "nickname"`,
	"session: case-variant key":                `unknown field "Nickname"`,
	"session: wrong type":                      `field "nickname" must be a string`,
	"session: invalid UTF-8":                   `the body is not valid UTF-8`,
	"session: body too large":                  `the body is larger than 64 KiB`,
	"read: id as number":                       `field "up_to" must be a decimal id in a string, such as "7267000000000000001"`,
}

// newUnitRoutes serves the routes of a service that is never Run (no
// servers: a request that passes every check waits for an owner), with the
// test secrets, changed by mutate; it returns the routes and the token keys.
func newUnitRoutes(t *testing.T, mutate func(*Config)) (*gin.Engine, *token.Keys) {
	t.Helper()
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Brokers: []string{"127.0.0.1:1"}, Names: schemas.NamesFor("unit"), InternalSecret: testSecret + "-internal",
		Keys: keys, AdminToken: testAdmin, Rules: plainRules{}, Store: unusedStore(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return bothListeners(svc), keys
}

// bothListeners serves the public routes and, for what they do not
// match, the internal ones: the two listeners of the binary on one engine,
// for tests that call both.
func bothListeners(svc *Service) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	internal := gin.New()
	svc.InternalRoutes(internal)
	r := gin.New()
	svc.Routes(r)
	r.NoRoute(gin.WrapH(internal))
	return r
}

// TestInternalRoutesAreOnlyInternal: the public routes include nothing of
// the internal protocol, and the internal listener has the protocol plus
// the one public route a split realtime service calls (its sends).
func TestInternalRoutesAreOnlyInternal(t *testing.T) {
	svc, err := New(Config{
		Brokers: []string{"127.0.0.1:1"}, Names: schemas.NamesFor("unit"), InternalSecret: testSecret + "-internal",
		Keys: mustKeys(t), AdminToken: testAdmin, Rules: plainRules{}, Store: unusedStore(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	public, internal := gin.New(), gin.New()
	svc.Routes(public)
	svc.InternalRoutes(internal)
	for _, r := range public.Routes() {
		if strings.HasPrefix(r.Path, "/internal") {
			t.Errorf("public listener serves %s %s", r.Method, r.Path)
		}
	}
	var got []string
	for _, r := range internal.Routes() {
		got = append(got, r.Method+" "+r.Path)
	}
	slices.Sort(got)
	want := []string{"GET " + cmdproto.PresenceRoute, "POST " + cmdproto.CommandsPath, "POST /v1/rooms/:id/messages"}
	if !slices.Equal(got, want) {
		t.Fatalf("internal routes %v, want %v", got, want)
	}
}

func mustKeys(t *testing.T) *token.Keys {
	t.Helper()
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
