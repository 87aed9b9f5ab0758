// Command happychat-chaos is the fault-injection suite (docs/reliability.md).
// It is a binary of its own, beside bin/happychat, so that the production
// binary carries only what serves traffic; the suite runs that binary's
// subcommands as the processes of the system under test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"happychat/cmd/internal/chaos"
	"happychat/cmd/internal/config"
	"happychat/internal/kafkacluster"
)

// version is set at build time with -ldflags "-X main.version=…"; it is the
// report's version.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runChaos(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "happychat-chaos:", err)
		os.Exit(1)
	}
}

// runChaos runs the fault-injection suite (docs/reliability.md) against
// the real servers of deploy/local:
//
//	happychat-chaos [--size small|full] [--scenario name,...] [--skip name,...] [--report file.json]
//
// It starts its own split system (two command instances, the projector,
// the query service, two realtime instances) from the happychat binary
// (--bin; by default the one beside this binary, where make build puts
// it) under a fresh topic prefix and fresh databases, drives load over
// HTTP and WebSockets, injects faults (signals to those processes; stopping
// and starting Kafka, PostgreSQL and ClickHouse through deploy/local;
// killing, stopping and restarting the brokers of the 3-broker cluster,
// $KAFKA_CLUSTER_BROKERS, for the cluster scenarios), and checks the whole
// history. It stops shared servers: never run it beside
// other tests.
func runChaos(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("happychat-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.String("size", "small", "small (CI, a few minutes) or full (the issue's size, by hand)")
	only := fs.String("scenario", "", "comma-separated scenarios to run (default: all, in order)")
	skip := fs.String("skip", "", "comma-separated scenarios to leave out")
	report := fs.String("report", "", "write the JSON report to this file")
	deploy := fs.String("deploy", "deploy/local", "directory of the server scripts (kafka.sh, postgres.sh, clickhouse.sh)")
	bin := fs.String("bin", "", "happychat binary to run the system with (default: happychat beside this binary)")
	previous := fs.String("previous-bin", "", "the previous release's happychat binary, for the rolling-upgrade scenario (make chaos builds it from git)")
	work := fs.String("work", "", "directory for the processes' logs (default: a new temporary directory)")
	keep := fs.Bool("keep", false, "keep the topics, databases and logs after the run")
	logLevel := fs.String("log-level", "info", "CHAT_LOG_LEVEL of the system's processes (debug also logs the Kafka client's group and transaction steps)")
	faultRate := fs.Float64("fault-rate", 0, "sends/s of the paced load during the faults (default: the size's; e.g. 1000 for the rolling restart of docs/benchmarks.md)")
	list := fs.Bool("list", false, "list the scenarios and exit")
	verbose := fs.Bool("v", false, "log progress (faults, scenarios) to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: happychat-chaos [flags]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "scenarios:")
		chaos.Describe(stderr)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		chaos.Describe(stdout)
		return nil
	}
	sz, ok := chaos.Sizes[*size]
	if !ok {
		return fmt.Errorf("--size must be small or full, not %q", *size)
	}
	if *faultRate < 0 {
		return fmt.Errorf("--fault-rate must be positive, not %v", *faultRate)
	}
	if *faultRate > 0 {
		sz.FaultRate = *faultRate
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if len(cfg.KafkaBrokers) == 0 {
		return errors.New(`KAFKA_BROKERS is not set: eval "$(deploy/local/env.sh)" first`)
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary: %w", err)
		}
		*bin = filepath.Join(filepath.Dir(exe), "happychat")
	}
	// Said before anything starts: otherwise the first sign is a failed
	// exec deep in the system's start-up.
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("the happychat binary the system runs: %w (make build puts it beside this one; or --bin)", err)
	}
	stateDir := cfg.StateDir
	if getenv("HAPPYCHAT_STATE_DIR") == "" {
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
	skipped := names(*skip)
	if *previous != "" {
		if _, err := os.Stat(*previous); err != nil {
			*previous = ""
		}
	}
	if *previous == "" && (*only == "" || slices.Contains(names(*only), "rolling-upgrade")) {
		// Only a checkout without the history to build the previous release
		// from gets here through make chaos (build-previous.sh warns).
		fmt.Fprintln(stdout, "chaos: SKIPPED rolling-upgrade: no previous release's binary (--previous-bin; make chaos builds it from git)")
		skipped = append(skipped, "rolling-upgrade")
	}
	_, err = chaos.Run(ctx, chaos.Config{
		Bin: *bin, PreviousBin: *previous, Size: sz, Scenarios: names(*only), Skip: skipped,
		Brokers: cfg.KafkaBrokers, ClusterBrokers: names(getenv(kafkacluster.EnvBrokers)), PGURL: cfg.PGURL, CHAddr: cfg.CHAddr,
		DeployDir: *deploy, StateDir: stateDir, Environ: os.Environ(),
		WorkDir: *work, Keep: *keep, LogLevel: *logLevel, Out: stdout, ReportPath: *report, Version: version,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	return err
}
