package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"happychat/cmd/internal/httpserver"
)

// listeners are the bound addresses of a serving process: the public one
// (CHAT_HTTP_ADDR) and the internal one (CHAT_INTERNAL_ADDR).
type listeners struct{ public, internal string }

// serveWith serves public on CHAT_HTTP_ADDR and internal on
// CHAT_INTERNAL_ADDR and, once both listen, runs work (if any) with their
// addresses. Either server or the work ending stops the others. When ctx
// ends, the servers shut down first and the work only after them, so that
// requests in flight (a send waiting for its partition's owner) still find
// the service running.
func (p *process) serveWith(ctx context.Context, env Env, public, internal http.Handler, work func(ctx context.Context, addrs listeners) error) error {
	pubLn, err := net.Listen("tcp", p.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("CHAT_HTTP_ADDR: %w", err)
	}
	intLn, err := net.Listen("tcp", p.cfg.InternalAddr)
	if err != nil {
		_ = pubLn.Close()
		return fmt.Errorf("CHAT_INTERNAL_ADDR: %w", err)
	}
	addrs := listeners{public: pubLn.Addr().String(), internal: intLn.Addr().String()}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()

	var (
		servers sync.WaitGroup
		errs    = make([]error, 3)
	)
	serve := func(i int, name string, ln net.Listener, h http.Handler) {
		servers.Go(func() {
			errs[i] = httpserver.ServeListener(serveCtx, ln, h, p.log.With("listener", name))
			stopServing()
		})
	}
	serve(0, "public", pubLn, public)
	serve(1, "internal", intLn, internal)
	workDone := make(chan struct{})
	go func() {
		defer close(workDone)
		if work == nil {
			return
		}
		err := work(workCtx, addrs)
		if err != nil && workCtx.Err() == nil {
			p.log.Error("service stopped", "err", err)
		}
		if !errors.Is(err, context.Canceled) {
			errs[2] = err
		}
		stopServing()
	}()
	if env.InternalReady != nil {
		env.InternalReady(addrs.internal)
	}
	if env.Ready != nil {
		env.Ready(addrs.public)
	}
	servers.Wait()
	// Wind the work down (leave groups, flush) once nothing is served.
	stopWork()
	<-workDone
	return errors.Join(errs...)
}
