package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"happychat/internal/httperr"
	"happychat/schemas"
)

func TestEngine(t *testing.T) {
	healthy := true
	checks := []Check{{Name: "kafka", Ping: func(context.Context) error {
		if healthy {
			return nil
		}
		return errors.New("down")
	}}}
	// The internal engine has every route of the public one plus /metrics.
	r := NewInternalEngine(prometheus.NewRegistry(), checks, slog.New(slog.DiscardHandler))
	r.GET("/limited", func(c *gin.Context) {
		httperr.Write(c.Writer, &schemas.Error{Code: schemas.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond})
	})
	r.GET("/boom", func(*gin.Context) { panic("boom") })
	tests := []struct {
		name, method, path string
		before             func()
		status             int
		body, header       string
	}{
		{name: "healthz", method: "GET", path: "/healthz", status: 200, body: "ok"},
		{name: "ready", method: "GET", path: "/readyz", status: 200, body: `"kafka":"ok"`},
		{name: "not ready", method: "GET", path: "/readyz", before: func() { healthy = false }, status: 503, body: `"kafka":"down"`},
		{name: "metrics", method: "GET", path: "/metrics", status: 200, body: "promhttp_metric_handler"},
		{name: "unknown route", method: "GET", path: "/v1/nope", status: 404, body: `{"error":{"code":"not_found"`},
		{name: "wrong method", method: "DELETE", path: "/healthz", status: 405, body: `"code":"method_not_allowed"`},
		{name: "retry after rounds up", method: "GET", path: "/limited", status: 429, body: `"code":"rate_limited"`, header: "2"},
		{name: "panic is a 500 envelope", method: "GET", path: "/boom", status: 500, body: `"code":"internal"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
				t.Fatalf("%d %s, want %d containing %s", w.Code, w.Body.String(), tt.status, tt.body)
			}
			if tt.header != "" && w.Header().Get("Retry-After") != tt.header {
				t.Fatalf("Retry-After %q, want %q", w.Header().Get("Retry-After"), tt.header)
			}
			if tt.status >= 400 && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") && tt.path != "/readyz" {
				t.Fatalf("content type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

// TestInternalPathsArePublic404s: the public engine answers the contract's
// 404 for every path of the internal listener, even where a fallback (the
// realtime service's web client) takes unknown routes; the internal engine
// serves /metrics and the profiles.
func TestInternalPathsArePublic404s(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	public := NewEngine(nil, log)
	public.NoRoute(func(c *gin.Context) { c.String(http.StatusOK, "web client") })
	internal := NewInternalEngine(prometheus.NewRegistry(), nil, log)
	tests := []struct {
		method, path string
		internal     int // the internal engine's status; the public one's is always 404
	}{
		{"GET", "/metrics", 200},
		{"GET", "/metrics/", 301}, // gin redirects to /metrics
		{"GET", "/debug/pprof/", 200},
		{"GET", "/debug/pprof/cmdline", 200},
		{"POST", "/internal/v1/commands", 404},
		{"GET", "/internal/v1/rooms/1/presence", 404},
		{"GET", "/internal", 404},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			public.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != 404 || !strings.Contains(w.Body.String(), `{"error":{"code":"not_found"`) {
				t.Fatalf("public: %d %s, want the 404 envelope", w.Code, w.Body.String())
			}
			w = httptest.NewRecorder()
			internal.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.internal {
				t.Fatalf("internal: %d %s, want %d", w.Code, w.Body.String(), tt.internal)
			}
		})
	}
	w := httptest.NewRecorder()
	public.ServeHTTP(w, httptest.NewRequest("GET", "/rooms", nil))
	if w.Body.String() != "web client" {
		t.Fatalf("the public fallback still serves other paths: %d %s", w.Code, w.Body.String())
	}
}

func TestServeShutsDownOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", http.NotFoundHandler(), func(a string) { addrc <- a }, slog.New(slog.DiscardHandler))
	}()
	addr := <-addrc
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
