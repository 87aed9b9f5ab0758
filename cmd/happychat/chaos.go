package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"happychat/cmd/internal/chaos"
	"happychat/cmd/internal/config"
)

// runChaos runs the fault-injection suite (docs/reliability.md) against
// the real servers of deploy/local:
//
//	happychat chaos [--size small|full] [--scenario name,...] [--skip name,...] [--report file.json]
//
// It starts its own split system (two command instances, the projector,
// the query service, two realtime instances) from this binary under a
// fresh topic prefix and fresh databases, drives load over HTTP and
// WebSockets, injects faults (signals to those processes; stopping and
// starting Kafka, PostgreSQL and ClickHouse through deploy/local), and
// checks the whole history. It stops shared servers: never run it beside
// other tests.
func runChaos(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	size := fs.String("size", "small", "small (CI, a few minutes) or full (the issue's size, by hand)")
	only := fs.String("scenario", "", "comma-separated scenarios to run (default: all, in order)")
	skip := fs.String("skip", "", "comma-separated scenarios to leave out")
	report := fs.String("report", "", "write the JSON report to this file")
	deploy := fs.String("deploy", "deploy/local", "directory of the server scripts (kafka.sh, postgres.sh, clickhouse.sh)")
	bin := fs.String("bin", "", "happychat binary to run the system with (default: this one)")
	work := fs.String("work", "", "directory for the processes' logs (default: a new temporary directory)")
	keep := fs.Bool("keep", false, "keep the topics, databases and logs after the run")
	list := fs.Bool("list", false, "list the scenarios and exit")
	verbose := fs.Bool("v", false, "log progress (faults, scenarios) to stderr")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: happychat chaos [flags]")
		fs.PrintDefaults()
		fmt.Fprintln(env.Stderr, "scenarios:")
		chaos.Describe(env.Stderr)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		chaos.Describe(env.Stdout)
		return nil
	}
	sz, ok := chaos.Sizes[*size]
	if !ok {
		return fmt.Errorf("--size must be small or full, not %q", *size)
	}
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(cfg.KafkaBrokers) == 0 {
		return errors.New(`KAFKA_BROKERS is not set: eval "$(deploy/local/env.sh)" first`)
	}
	if *bin == "" {
		if *bin, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
	}
	stateDir := cfg.StateDir
	if env.Getenv("HAPPYCHAT_STATE_DIR") == "" {
		// The scripts' default: the repository's .state beside deploy/.
		stateDir = filepath.Join(*deploy, "..", "..", ".state")
	}
	names := func(csv string) []string {
		var out []string
		for s := range strings.SplitSeq(csv, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	_, err = chaos.Run(ctx, chaos.Config{
		Bin: *bin, Size: sz, Scenarios: names(*only), Skip: names(*skip),
		Brokers: cfg.KafkaBrokers, PGURL: cfg.PGURL, CHAddr: cfg.CHAddr,
		DeployDir: *deploy, StateDir: stateDir, Environ: os.Environ(),
		WorkDir: *work, Keep: *keep, Out: env.Stdout, ReportPath: *report, Version: version,
		Log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})),
	})
	return err
}
