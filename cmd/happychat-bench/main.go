// Command happychat-bench is the WebSocket load generator of
// docs/benchmarks.md, run against a happychat that is already serving. It
// is a binary of its own so that the production binary does not carry it
// (gonum/plot with its fonts and PDF code, for one histogram).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"happychat/cmd/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "happychat-bench:", err)
		os.Exit(1)
	}
}
