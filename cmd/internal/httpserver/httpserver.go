// Package httpserver runs the binary's HTTP listener: the operational
// routes every service has (/healthz, /readyz, /metrics), sane server
// timeouts, and a graceful shutdown when the context ends.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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

// NewEngine returns a gin engine with recovery, the operational routes, and
// the contract's JSON envelope for unknown routes and methods.
func NewEngine(reg *prometheus.Registry, checks []Check, log *slog.Logger) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		log.Error("panic serving request", "path", c.FullPath(), "panic", rec)
		fail(c, schemas.Errorf(schemas.CodeInternal, "internal error"))
	}))
	r.NoRoute(func(c *gin.Context) { fail(c, schemas.Errorf(schemas.CodeNotFound, "no such route")) })
	r.NoMethod(func(c *gin.Context) {
		c.Header("Allow", c.Writer.Header().Get("Allow"))
		fail(c, schemas.Errorf(httperr.CodeMethodNotAllowed, "method not allowed"))
	})
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.GET("/readyz", func(c *gin.Context) {
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
	})
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return r
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
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
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
