// Package httpserver runs the binary's two HTTP listeners: the public one
// (CHAT_HTTP_ADDR: the API, /healthz, /readyz) and the internal one
// (CHAT_INTERNAL_ADDR: the command service's internal protocol, /metrics,
// pprof, and /healthz, /readyz again), with sane server timeouts and a
// graceful shutdown when the context ends.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"happychat/internal/httperr"
	"happychat/schemas"
)

// Check reports whether one dependency answers.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// NewEngine returns the public engine: recovery, /healthz and /readyz, the
// contract's JSON envelope for unknown routes and methods, and a 404 for
// every path of the internal listener. The internal handlers are never
// mounted here, which is what keeps them off the public listener; the 404
// only makes the answer the contract's envelope wherever a fallback (the
// realtime service's web client) would otherwise answer.
func NewEngine(checks []Check, log *slog.Logger) *gin.Engine {
	return newEngine(checks, log, func(c *gin.Context) {
		if InternalOnly(c.Request.URL.Path) {
			fail(c, schemas.Errorf(schemas.CodeNotFound, "no such route"))
		}
	})
}

// NewInternalEngine returns the internal listener's engine: what NewEngine
// has, plus /metrics and the runtime profiles (/debug/pprof/). Services
// mount their internal routes on it.
func NewInternalEngine(reg *prometheus.Registry, checks []Check, log *slog.Logger) *gin.Engine {
	r := newEngine(checks, log)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	profiles := gin.WrapH(pprofMux())
	r.GET("/debug/pprof/*profile", profiles)
	r.POST("/debug/pprof/*profile", profiles) // pprof's symbol lookup is a POST
	return r
}

// InternalOnly reports whether path belongs to the internal listener only:
// the internal protocol (/internal/…), /metrics and /debug/pprof/.
func InternalOnly(path string) bool {
	for _, p := range []string{"/internal", "/metrics", "/debug/pprof"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func newEngine(checks []Check, log *slog.Logger, middleware ...gin.HandlerFunc) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		log.Error("panic serving request", "path", c.FullPath(), "panic", rec)
		fail(c, schemas.Errorf(schemas.CodeInternal, "internal error"))
	}))
	// Global middleware runs for unknown routes too (gin rebuilds the 404
	// and 405 chains on Use, and again on NoRoute).
	r.Use(middleware...)
	r.NoRoute(func(c *gin.Context) { fail(c, schemas.Errorf(schemas.CodeNotFound, "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		allow := c.Writer.Header().Get("Allow")
		if exportPath.MatchString(c.Request.URL.Path) {
			// GET …/messages/export (query) and PATCH, DELETE
			// …/messages/{message_id} (command) share the path's shape, so
			// gin advertises the message routes' methods for the export's
			// path too; the command answers them 405 there.
			allow = http.MethodGet
		}
		c.Header("Allow", allow)
		fail(c, schemas.Errorf(httperr.CodeMethodNotAllowed, "method not allowed"))
	})
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.GET("/readyz", readiness(checks))
	return r
}

// exportPath is the path of a room's export.
var exportPath = regexp.MustCompile(`^/v1/rooms/[^/]+/messages/export$`)

// readiness answers /readyz: each check's "ok" or error, 200 only when all
// pass.
func readiness(checks []Check) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		status := map[string]string{}
		ok := true
		for _, ch := range checks {
			if err := ch.Ping(ctx); err != nil {
				status[ch.Name] = err.Error()
				ok = false
			} else {
				status[ch.Name] = "ok"
			}
		}
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(c, code, status)
	}
}

// WriteJSON renders v with the system's JSON encoder.
func WriteJSON(c *gin.Context, status int, v any) {
	b, err := schemas.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encode response"}}`)
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// fail renders e as the contract's error envelope and ends the chain.
func fail(c *gin.Context, e *schemas.Error) {
	httperr.Write(c.Writer, e)
	c.Abort()
}

// Serve listens on addr and serves h until ctx ends, then shuts down
// gracefully (in-flight requests get up to 10 s). ready, if set, receives the
// bound address (useful with ":0").
func Serve(ctx context.Context, addr string, h http.Handler, ready func(string), log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	return ServeListener(ctx, ln, h, log)
}

// ServeListener serves h on ln (which it closes) until ctx ends, then shuts
// down gracefully (in-flight requests get up to 10 s).
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
