// Command happychat is the binary that runs in production: the all-in-one
// dev mode, each service on its own, and the operator's tools (migrate,
// replay). The load generator and the fault-injection suite are binaries of
// their own (cmd/happychat-bench, cmd/happychat-chaos), so that this one
// carries only what serves traffic.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// subcommand runs one mode of the binary until ctx is done.
type subcommand struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) error
}

// Env is the process's outside world, passed explicitly so that end-to-end
// tests run the binary's code in-process with their own settings.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if set, is called with the listen address once the HTTP server
	// of a serving subcommand accepts connections.
	Ready func(addr string)
	// InternalReady, if set, is called first with the internal listener's
	// address (CHAT_INTERNAL_ADDR: /metrics, pprof, the internal protocol).
	InternalReady func(addr string)
}

func subcommands() map[string]subcommand {
	return map[string]subcommand{
		"dev":         {"run everything in one process (embedded Kafka unless KAFKA_BROKERS is set)", runDev},
		"command":     {"run the command service (writes)", runCommand},
		"query":       {"run the query service (reads)", runQuery},
		"projector":   {"run the projectors (PostgreSQL views, ClickHouse history)", runProjector},
		"realtime":    {"run the realtime service (WebSocket and web client)", runRealtime},
		"notifier":    {"run the Web Push notifier (push subscriptions, pushes to closed apps)", runNotifier},
		"replay":      {"rebuild views from the start of the log (--view rooms|history|all)", runReplay},
		"migrate":     {"apply the PostgreSQL and ClickHouse migrations", runMigrate},
		"topics":      {"create the Kafka topics with their configs", runTopics},
		"acls":        {"give each service's Kafka principal what it needs (as the setup principal; --dry-run prints them)", runACLs},
		"features":    {"show or raise (--set N) the cluster's feature level (rolling upgrades)", runFeatures},
		"version":     {"print the version", runVersion},
		"rewrite-log": {"copy the log into new topics with message texts sealed and deleted ones erased (--to-prefix)", runRewriteLog},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := run(ctx, env, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "happychat:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, env Env, args []string) error {
	cmds := subcommands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stdout, cmds)
		if len(args) == 0 {
			return errors.New("missing subcommand")
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(env.Stderr, cmds)
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	if err := c.run(ctx, env, args[1:]); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	return nil
}

func usage(w io.Writer, cmds map[string]subcommand) {
	fmt.Fprintln(w, "usage: happychat <subcommand> [flags]")
	for _, name := range []string{"dev", "command", "query", "projector", "realtime", "notifier", "replay", "migrate", "topics", "rewrite-log", "version"} {
		fmt.Fprintf(w, "  %-12s %s\n", name, cmds[name].summary)
	}
}

func runVersion(_ context.Context, env Env, _ []string) error {
	fmt.Fprintln(env.Stdout, "happychat", version)
	return nil
}
