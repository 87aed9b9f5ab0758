package query

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"happychat/internal/tokentest"
	"happychat/query/openapi"
	"happychat/schemas"
	"happychat/schemas/token"
)

// badRequest is a request the service must refuse with a 4xx envelope.
type badCase struct {
	name   string
	path   string
	auth   string // the whole Authorization header
	status int
	code   schemas.Code
}

// refusedBeforeStores are refused by parsing alone: no store is touched.
func refusedBeforeStores(t *testing.T) []badCase {
	t.Helper()
	other, err := token.New("another-secret-0123456789", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, _ := other.Issue(42, "mallory")
	keys, _ := token.New(testSecret, time.Hour)
	expired, _, _ := keys.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue(42, "old")
	const (
		bad  = http.StatusBadRequest
		r    = "/v1/rooms/7265401934405767168"
		msgs = r + "/messages"
	)
	cb, cu, cf := schemas.CodeBadRequest, schemas.CodeUnauthorized, schemas.CodeForbidden
	return []badCase{
		{"unknown status", "/v1/rooms?status=closed", "", bad, cb},
		// The report queue and the block list (feature level 5).
		{"report queue for a user", "/v1/admin/reports", "Bearer " + userToken(t, keys, 42), http.StatusForbidden, cf},
		{"report queue for anonymous", "/v1/admin/reports", "", http.StatusUnauthorized, cu},
		{"report queue unknown status", "/v1/admin/reports?status=closed", "", bad, cb},
		{"report queue limit too large", "/v1/admin/reports?limit=101", "", bad, cb},
		{"report queue before not an id", "/v1/admin/reports?before=x", "", bad, cb},
		{"block list for anonymous", "/v1/me/blocks", "", http.StatusUnauthorized, cu},
		{"empty status", "/v1/rooms?status=", "", bad, cb},
		{"repeated parameter", "/v1/rooms?status=open&status=open", "", bad, cb},
		{"unknown parameter", "/v1/rooms?order=new", "", bad, cb},
		{"unknown sort", "/v1/rooms?sort=oldest", "", bad, cb},
		{"mine not a boolean", "/v1/rooms?mine=1", "", bad, cb},
		{"mine for anonymous", "/v1/rooms?mine=true", "", bad, cb},
		{"search empty", "/v1/rooms?q=", "", bad, cb},
		{"search blank", "/v1/rooms?q=%20%20", "", bad, cb},
		{"search too long", "/v1/rooms?q=" + strings.Repeat("고", MaxSearchRunes+1), "", bad, cb},
		{"search with a control character", "/v1/rooms?q=a%00b", "", bad, cb},
		{"search not UTF-8", "/v1/rooms?q=%ff", "", bad, cb},
		{"cursor of the busiest list with sort=new", "/v1/rooms?sort=new&cursor=" + roomsCursor{list: roomsList{Sort: SortBusiest}, Room: 5}.encode(), "", bad, cb},
		{"cursor of a search without it", "/v1/rooms?cursor=" + roomsCursor{list: roomsList{Sort: SortBusiest, QHash: searchHash("cats")}, Room: 5}.encode(), "", bad, cb},
		{"cursor of one search with another", "/v1/rooms?q=dogs&cursor=" + roomsCursor{list: roomsList{Sort: SortBusiest, QHash: searchHash("cats")}, Room: 5}.encode(), "", bad, cb},
		{"malformed query string", "/v1/rooms?%zz", "", bad, cb},
		{"semicolon in query", "/v1/rooms?status=open;x", "", bad, cb},
		{"proposals for anonymous", "/v1/rooms?status=proposed", "", http.StatusForbidden, cf},
		{"rooms limit 0", "/v1/rooms?limit=0", "", bad, cb},
		{"rooms limit above the cap", "/v1/rooms?limit=201", "", bad, cb},
		{"rooms cursor not issued", "/v1/rooms?cursor=r1.1.-.5", "", bad, cb},
		{"rooms cursor empty", "/v1/rooms?cursor=", "", bad, cb},
		{"proposals for a user", "/v1/rooms?status=proposed", "Bearer " + tokentest.Issue(t, keys, 7, "u"), http.StatusForbidden, cf},
		{"basic auth", "/v1/rooms", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, cu},
		{"empty bearer", "/v1/rooms", "Bearer ", http.StatusUnauthorized, cu},
		{"garbage bearer", "/v1/rooms", "Bearer not-a-token", http.StatusUnauthorized, cu},
		{"forged token", "/v1/rooms", "Bearer " + forged, http.StatusUnauthorized, cu},
		{"expired token", r, "Bearer " + expired, http.StatusUnauthorized, cu},
		{"almost the admin token", "/v1/rooms?status=proposed", "Bearer " + testAdmin + "x", http.StatusUnauthorized, cu},
		{"room id not a number", "/v1/rooms/abc", "", bad, cb},
		{"room id zero", "/v1/rooms/0", "", bad, cb},
		{"room id negative", "/v1/rooms/-5", "", bad, cb},
		{"room id leading zero", "/v1/rooms/0123", "", bad, cb},
		{"room id overflows", "/v1/rooms/99999999999999999999", "", bad, cb},
		{"room id with space", "/v1/rooms/12%2034", "", bad, cb},
		{"room takes no parameters", r + "?members=true", "", bad, cb},
		{"before not an id", msgs + "?before=abc", "", bad, cb},
		{"before empty", msgs + "?before=", "", bad, cb},
		{"after zero", msgs + "?after=0", "", bad, cb},
		{"after hex", msgs + "?after=0x10", "", bad, cb},
		{"before and after", msgs + "?before=10&after=5", "", bad, cb},
		{"limit zero", msgs + "?limit=0", "", bad, cb},
		{"limit too large", msgs + "?limit=201", "", bad, cb},
		{"limit negative", msgs + "?limit=-1", "", bad, cb},
		{"limit with sign", msgs + "?limit=+5", "", bad, cb},
		{"limit fraction", msgs + "?limit=1.5", "", bad, cb},
		{"limit huge", msgs + "?limit=99999999999999999999999", "", bad, cb},
		{"offset is not a thing", msgs + "?offset=100", "", bad, cb},
		{"messages with a bad room", "/v1/rooms/x/messages", "", bad, cb},
		{"export takes no parameters", r + "/messages/export?limit=5", "", bad, cb},
		{"export with a bad room", "/v1/rooms/1.5/messages/export", "", bad, cb},
		{"export with a bad token", r + "/messages/export", "Bearer x.y.z", http.StatusUnauthorized, cu},
		{"unknown bucket", "/v1/analytics/activity?bucket=week", "", bad, cb},
		{"bucket case", "/v1/analytics/activity?bucket=Hour", "", bad, cb},
		{"from not a time", "/v1/analytics/activity?from=yesterday", "", bad, cb},
		{"from without zone", "/v1/analytics/activity?from=2026-01-01T00:00:00", "", bad, cb},
		{"from before 2000", "/v1/analytics/activity?from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00Z", "", bad, cb},
		{"from after to", "/v1/analytics/activity?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "", bad, cb},
		{"from equals to", "/v1/analytics/activity?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "", bad, cb},
		{"from in the future", "/v1/analytics/activity?from=2999-01-01T00:00:00Z", "", bad, cb},
		{"minutes over two days", "/v1/analytics/activity?bucket=minute&from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z", "", bad, cb},
		{"minutes over a year", "/v1/analytics/activity?bucket=minute&from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "", bad, cb},
		{"hours over 100 days", "/v1/analytics/activity?bucket=hour&from=2026-01-01T00:00:00Z&to=2026-04-11T00:00:00Z", "", bad, cb},
		{"days over 4 years", "/v1/analytics/activity?bucket=day&from=2020-01-01T00:00:00Z&to=2024-01-02T00:00:00Z", "", bad, cb},
		{"activity room not an id", "/v1/analytics/activity?room=general", "", bad, cb},
		{"activity unknown parameter", "/v1/analytics/activity?rooms=1", "", bad, cb},
		{"top senders limit zero", "/v1/analytics/top-senders?limit=0", "", bad, cb},
		{"top senders limit too large", "/v1/analytics/top-senders?limit=101", "", bad, cb},
		{"top senders range above 92 days", "/v1/analytics/top-senders?from=2026-01-01T00:00:00Z&to=2026-04-03T00:00:01Z", "", bad, cb},
		{"top senders from long ago", "/v1/analytics/top-senders?from=2000-01-01T00:00:00Z", "", bad, cb},
		{"top senders from after to", "/v1/analytics/top-senders?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "", bad, cb},
		{"top senders bucket", "/v1/analytics/top-senders?bucket=day", "", bad, cb},
		{"top senders room", "/v1/analytics/top-senders?room=-1", "", bad, cb},
		{"openapi takes no parameters", "/v1/openapi.yaml?v=2", "", bad, cb},
	}
}

// unitService is a Service without stores: enough for everything that is
// refused before a store is asked (a request that reaches one panics).
func unitService(t *testing.T) *Service {
	t.Helper()
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Keys: keys, AdminToken: testAdmin, Capacity: testCapacity, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.setDefaults()
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	return &Service{cfg: cfg, log: cfg.Log, metrics: m,
		analytics: newGate(cfg.AnalyticsConcurrency, "analytics queries", m.busy.WithLabelValues("analytics")),
		exports:   newGate(cfg.ExportConcurrency, "exports", m.busy.WithLabelValues("export"))}
}

func checkRefusal(t *testing.T, doc *openapi.Doc, tc badCase, status int, h http.Header, body []byte) {
	t.Helper()
	if status != tc.status {
		t.Fatalf("status %d, want %d: %s", status, tc.status, body)
	}
	var eb struct {
		Error schemas.Error `json:"error"`
	}
	if err := schemas.StrictUnmarshal(body, &eb); err != nil {
		t.Fatalf("not an error envelope: %v: %s", err, body)
	}
	if eb.Error.Code != tc.code || eb.Error.Message == "" {
		t.Fatalf("error %+v, want code %s", eb.Error, tc.code)
	}
	if err := doc.ValidateResponse(http.MethodGet, h.Get("X-Test-Route"), status, h, body); err != nil {
		t.Fatalf("not as documented: %v", err)
	}
}

// Every bad parameter gets a 4xx envelope, without a store: so the check
// runs in -short mode too.
func TestBadParametersAreRefused(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	engine := testEngine(unitService(t))
	for _, tc := range refusedBeforeStores(t) {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			engine.ServeHTTP(w, req)
			checkRefusal(t, doc, tc, w.Code, w.Header(), w.Body.Bytes())
		})
	}
}

// The same refusals against the real stores, plus those that need them.
func TestBadParametersAgainstStores(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-time.Hour)
	proposal := e.addRoom("proposal", schemas.RoomStatusProposed, e.newID(start), start)
	cases := append(refusedBeforeStores(t),
		badCase{"unknown room", "/v1/rooms/7265401934405767168", "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"messages of an unknown room", "/v1/rooms/7265401934405767168/messages", "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"export of an unknown room", "/v1/rooms/7265401934405767168/messages/export", "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"a proposal for anonymous", "/v1/rooms/" + proposal.String(), "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"export of a proposal", "/v1/rooms/" + proposal.String() + "/messages/export", "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"activity of an unknown room", "/v1/analytics/activity?room=7265401934405767168", "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"activity of a proposal", "/v1/analytics/activity?room=" + proposal.String(), "", http.StatusNotFound, schemas.CodeNotFound},
		badCase{"top senders of an unknown room", "/v1/analytics/top-senders?room=7265401934405767168", "", http.StatusNotFound, schemas.CodeNotFound},
	)
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Run(tc.name, func(t *testing.T) { checkRefusal(t, e.doc, tc, resp.StatusCode, resp.Header, body) })
	}
}

// Every route the service registers is in the document; and the document
// served is the embedded one.
func TestRoutesAreDocumented(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	engine := testEngine(unitService(t))
	var routes []openapi.Route
	for _, r := range engine.Routes() {
		routes = append(routes, openapi.Route{Method: r.Method, Path: r.Path})
	}
	if len(routes) != 12 {
		t.Fatalf("%d routes registered: %v", len(routes), routes)
	}
	if missing := doc.Missing(routes); len(missing) > 0 {
		t.Fatalf("routes missing from docs/openapi.yaml: %s", strings.Join(missing, ", "))
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/openapi.yaml", nil)
	w := httptest.NewRecorder()
	engine.ServeHTTP(w, req)
	if w.Code != http.StatusOK || w.Body.String() != string(openapi.Spec()) {
		t.Fatalf("GET /v1/openapi.yaml: %d", w.Code)
	}
	if err := doc.ValidateResponse(http.MethodGet, "/v1/openapi.yaml", w.Code, w.Header(), w.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func userToken(t *testing.T, keys *token.Keys, id int64) string {
	t.Helper()
	tok, _, err := keys.Issue(schemas.ID(id), "someone")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
