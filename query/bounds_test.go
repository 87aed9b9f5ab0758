package query

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"happychat/schemas"
)

// ClickHouse's refusals under the per-query limits are 503 with
// Retry-After; its other errors stay what they were (500).
func TestClickHouseLimitErrors(t *testing.T) {
	for _, tc := range []struct {
		code int32
		want schemas.Code
	}{
		{chTooManyRows, schemas.CodeUnavailable},
		{chTooManyBytes, schemas.CodeUnavailable},
		{chTimeoutExceeded, schemas.CodeUnavailable},
		{60, schemas.CodeInternal}, // UNKNOWN_TABLE
		{62, schemas.CodeInternal}, // SYNTAX_ERROR
	} {
		err := chLimitError(fmt.Errorf("top senders: %w", &clickhouse.Exception{Code: tc.code, Message: "limit"}))
		e := schemas.AsError(err)
		if e.Code != tc.want {
			t.Fatalf("code %d: %v", tc.code, err)
		}
		if tc.want == schemas.CodeUnavailable && e.RetryAfter <= 0 {
			t.Fatalf("code %d: no Retry-After", tc.code)
		}
	}
	if err := chLimitError(errors.New("plain")); schemas.AsError(err).Code != schemas.CodeInternal {
		t.Fatal(err)
	}
}

// TestStoreErrorTimeouts: a store's timeout is 503 with Retry-After, the
// request's deadline or a connection's own (clickhouse-go's read timeout,
// a net.Error), and so is a PostgreSQL answer that asks for a retry;
// other failures stay internal.
func TestStoreErrorTimeouts(t *testing.T) {
	ioTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want schemas.Code
	}{
		{"a connection's read deadline", context.Background(), fmt.Errorf("read history: %w", ioTimeout), schemas.CodeUnavailable},
		{"the request's deadline", expired, errors.New("read history: canceled"), schemas.CodeUnavailable},
		{"deadline in the chain", context.Background(), fmt.Errorf("x: %w", context.DeadlineExceeded), schemas.CodeUnavailable},
		{"a refused connection", context.Background(), &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, schemas.CodeInternal},
		{"anything else", context.Background(), errors.New("plain"), schemas.CodeInternal},
		{"a deadlock's victim", context.Background(), fmt.Errorf("list rooms: %w", &pgconn.PgError{Code: "40P01"}), schemas.CodeUnavailable},
		{"a serialization failure", context.Background(), &pgconn.PgError{Code: "40001"}, schemas.CodeUnavailable},
		{"a lock not granted in time", context.Background(), &pgconn.PgError{Code: "55P03"}, schemas.CodeUnavailable},
		{"a missing table", context.Background(), &pgconn.PgError{Code: "42P01"}, schemas.CodeInternal},
	} {
		e := schemas.AsError(storeError(tc.ctx, tc.err))
		if e.Code != tc.want || (tc.want == schemas.CodeUnavailable && e.RetryAfter <= 0) {
			t.Errorf("%s: %+v, want %s", tc.name, e, tc.want)
		}
	}
}

func TestGate(t *testing.T) {
	g := newGate(2, "things", prometheus.NewCounter(prometheus.CounterOpts{Name: "x"}))
	r1, err1 := g.enter()
	r2, err2 := g.enter()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	_, err := g.enter()
	if e := schemas.AsError(err); e.Code != schemas.CodeUnavailable || e.RetryAfter <= 0 || !strings.Contains(e.Message, "things") {
		t.Fatalf("a full gate: %v", err)
	}
	r1()
	r3, err := g.enter()
	if err != nil {
		t.Fatal(err)
	}
	r2()
	r3()
}

// With every analytics slot taken, analytics answer 503 with Retry-After at
// once, before any store is asked (so this runs in -short mode).
func TestBusyAnalyticsWithoutStores(t *testing.T) {
	svc := unitService(t)
	release, err := svc.analytics.enter()
	if err != nil {
		t.Fatal(err)
	}
	for range svc.cfg.AnalyticsConcurrency - 1 {
		if _, err := svc.analytics.enter(); err != nil {
			t.Fatal(err)
		}
	}
	engine := testEngine(svc)
	for _, path := range []string{"/v1/analytics/activity", "/v1/analytics/top-senders"} {
		w := httptest.NewRecorder()
		engine.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"unavailable"`) {
			t.Fatalf("%s: %d %v %s", path, w.Code, w.Header(), w.Body)
		}
	}
	release()
}

// Against the stores: full slots answer 503 with Retry-After and free
// slots serve again; a query reading more rows than allowed is 503, not
// 500; a top-senders range above the cap is 400 naming from and to.
func TestReadBounds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) {
		c.AnalyticsConcurrency, c.ExportConcurrency = 1, 1
		c.AnalyticsMaxRows = 10
	})
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	u := e.newID(day)
	room := e.addRoom("busy", schemas.RoomStatusOpen, 0, day)
	e.addMessages(room, spread(50, day.Add(time.Hour), time.Second, u))
	export := "/v1/rooms/" + room.String() + "/messages/export"
	// A range in a month without messages reads nothing: within any limit.
	empty := "from=2001-01-01T00:00:00Z&to=2001-01-02T00:00:00Z"
	dense := "from=2026-03-14T00:00:00Z&to=2026-03-15T00:00:00Z"
	busy := func(path string) {
		t.Helper()
		r := e.get(path, "")
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "retry") {
			t.Fatalf("%s: %v %s", path, r.header, r.body)
		}
	}

	release, err := e.svc.analytics.enter()
	if err != nil {
		t.Fatal(err)
	}
	busy("/v1/analytics/activity?" + empty)
	busy("/v1/analytics/top-senders?" + empty)
	wantStatus(t, e.get(export, ""), http.StatusOK) // exports have slots of their own
	release()
	wantStatus(t, e.get("/v1/analytics/activity?"+empty, ""), http.StatusOK)
	wantStatus(t, e.get("/v1/analytics/top-senders?"+empty, ""), http.StatusOK)

	release, err = e.svc.exports.enter()
	if err != nil {
		t.Fatal(err)
	}
	busy(export)
	release()
	wantStatus(t, e.get(export, ""), http.StatusOK)

	// 50 messages > max_rows_to_read 10: ClickHouse refuses, the client
	// gets 503 with Retry-After and a hint, and the slot is free again.
	for _, path := range []string{"/v1/analytics/activity?" + dense, "/v1/analytics/top-senders?" + dense, "/v1/analytics/top-senders?room=" + room.String() + "&" + dense} {
		r := e.get(path, "")
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "narrow from/to") {
			t.Fatalf("%s: %v %s", path, r.header, r.body)
		}
	}
	wantStatus(t, e.get("/v1/analytics/activity?"+empty, ""), http.StatusOK)

	r := e.get("/v1/analytics/top-senders?from=2026-01-01T00:00:00Z&to=2026-04-03T00:00:01Z", "")
	wantStatus(t, r, http.StatusBadRequest)
	wantMessageNames(t, r, "from and to")
	wantMessageNames(t, r, "92 days")
}
