package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Size bounds a run: the load and the length of every fault.
type Size struct {
	Name       string
	Partitions int // partitions of the rooms topic
	Capacity   int // members per room

	// Baseline: Rooms × Members, every member on a socket, Sends messages
	// by Workers concurrent clients; Hoppers users join all of Lobbies
	// rooms at once (one room per user).
	Rooms, Members, Sends, Workers int
	Lobbies, Hoppers               int

	// Fault scenarios: FaultRooms × FaultMembers (all on sockets) under a
	// paced load of FaultRate sends/s.
	FaultRooms, FaultMembers int
	FaultRate                float64
	FaultWorkers             int

	ProjectorKills int           // SIGKILLs of the projector, KillEvery apart
	KillEvery      time.Duration //
	StoreOutage    time.Duration // PostgreSQL, then ClickHouse, stopped this long
	KafkaRestarts  []string      // "sigterm" (kafka.sh stop) and/or "sigkill"
	KafkaDown      time.Duration // how long the broker stays down
	StopFor        time.Duration // SIGSTOP of a command instance (> its 6 s session timeout)
	StormRounds    int           // capacity storms during the command kill

	SlowMessages int     // messages per phase of the slow-reader scenario
	SlowRate     float64 // their pace
	SlowBody     int     // their size in code points (4-byte emoji)

	ReplayTimeout time.Duration // longest a replay may take

	SendTimeout time.Duration // how long a client retries one send
	CatchUp     time.Duration // longest wait for views and sockets to catch up
}

// Sizes are the presets: small for CI (a few minutes on two cores), full
// the size, run by hand.
var Sizes = map[string]Size{
	"small": {
		Name: "small", Partitions: 6, Capacity: 20,
		Rooms: 10, Members: 5, Sends: 3000, Workers: 16, Lobbies: 3, Hoppers: 5,
		FaultRooms: 4, FaultMembers: 5, FaultRate: 150, FaultWorkers: 12,
		ProjectorKills: 3, KillEvery: 3 * time.Second, StoreOutage: 10 * time.Second,
		KafkaRestarts: []string{"sigterm"}, KafkaDown: 3 * time.Second, StopFor: 10 * time.Second,
		StormRounds: 3, SlowMessages: 800, SlowRate: 150, SlowBody: 1900, ReplayTimeout: time.Minute,
		SendTimeout: 90 * time.Second, CatchUp: 90 * time.Second,
	},
	"full": {
		Name: "full", Partitions: 12, Capacity: 20,
		Rooms: 50, Members: 20, Sends: 100_000, Workers: 64, Lobbies: 10, Hoppers: 20,
		FaultRooms: 20, FaultMembers: 10, FaultRate: 800, FaultWorkers: 48,
		ProjectorKills: 6, KillEvery: 5 * time.Second, StoreOutage: 30 * time.Second,
		KafkaRestarts: []string{"sigterm", "sigkill"}, KafkaDown: 10 * time.Second, StopFor: 15 * time.Second,
		StormRounds: 8, SlowMessages: 3000, SlowRate: 300, SlowBody: 1900, ReplayTimeout: 5 * time.Minute,
		SendTimeout: 3 * time.Minute, CatchUp: 5 * time.Minute,
	},
}

// Config is one run of the suite.
type Config struct {
	// Bin is the happychat binary whose processes make up the system.
	Bin  string
	Size Size
	// Scenarios to run, in the suite's order; empty runs them all. Skip
	// leaves some out.
	Scenarios []string
	Skip      []string
	// The shared servers (deploy/local): Kafka brokers, the PostgreSQL URL
	// of an account that may CREATE DATABASE, the ClickHouse native address.
	Brokers []string
	PGURL   string
	CHAddr  string
	// DeployDir holds kafka.sh, postgres.sh, clickhouse.sh; StateDir is
	// where they keep their pid files.
	DeployDir string
	StateDir  string
	// Environ is the environment the processes and scripts start from.
	Environ []string
	// WorkDir receives the processes' logs (kept when the run fails).
	WorkDir string
	// Keep leaves the databases, topics and logs in place.
	Keep bool
	// Out receives the report lines; ReportPath, if set, the JSON report.
	Out        io.Writer
	ReportPath string
	Version    string
	Log        *slog.Logger
}

// Validate reports every missing setting.
func (c Config) Validate() error {
	var errs []error
	if c.Bin == "" {
		errs = append(errs, errors.New("no happychat binary"))
	}
	if c.Size.Name == "" {
		errs = append(errs, errors.New("no size"))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS must name the real broker (the suite restarts it)"))
	}
	if c.PGURL == "" || c.CHAddr == "" {
		errs = append(errs, errors.New("PG_URL and CLICKHOUSE_ADDR are required"))
	}
	for _, n := range slices.Concat(c.Scenarios, c.Skip) {
		if !slices.ContainsFunc(scenarios, func(s scenario) bool { return s.name == n }) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (have %s)", n, strings.Join(ScenarioNames(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// ScenarioNames lists the scenarios in the order they run.
func ScenarioNames() []string {
	out := make([]string, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.name
	}
	return out
}

// Describe writes one line per scenario.
func Describe(w io.Writer) {
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-17s %s\n", s.name, s.summary)
	}
}

// Run starts the system, runs the scenarios one after another, checks the
// whole history, prints one line per scenario (plus the findings of failed
// ones) and writes the JSON report. The error is non-nil when the suite
// could not run or any scenario has a non-zero lost / duplicates /
// invariant-violations figure.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	srv := servers{dir: cfg.DeployDir, stateDir: cfg.StateDir, env: cfg.Environ}
	if err := srv.check(); err != nil {
		return nil, err
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "happychat-chaos-")
		if err != nil {
			return nil, err
		}
		cfg.WorkDir = dir
	}
	start := time.Now()
	rep := &Report{Version: cfg.Version, Size: cfg.Size.Name, Started: start.UTC().Format(time.RFC3339)}
	fmt.Fprintf(cfg.Out, "chaos: size %s, starting the system (logs under %s)\n", cfg.Size.Name, cfg.WorkDir)
	sys, err := startSystem(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("start the system: %w", err)
	}
	rep.Topics, rep.Database, rep.WorkDir = "chaos"+sys.tag, sys.db, sys.work
	fmt.Fprintf(cfg.Out, "chaos: system up in %s (topics chaos%s.*, databases %s)\n", time.Since(start).Round(100*time.Millisecond), sys.tag, sys.db)

	st := &suite{sys: sys, size: cfg.Size}
	for _, sc := range scenarios {
		if len(cfg.Scenarios) > 0 && !slices.Contains(cfg.Scenarios, sc.name) || slices.Contains(cfg.Skip, sc.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		res := st.run(ctx, sc)
		rep.Scenarios = append(rep.Scenarios, res)
		fmt.Fprintln(cfg.Out, res.Line())
		if !res.Passed() {
			res.writeDetails(cfg.Out)
		}
	}
	if ctx.Err() == nil {
		res := st.wholeHistory(ctx)
		rep.Scenarios = append(rep.Scenarios, res)
		fmt.Fprintln(cfg.Out, res.Line())
		if !res.Passed() {
			res.writeDetails(cfg.Out)
		}
	}
	rep.Passed = ctx.Err() == nil
	for _, r := range rep.Scenarios {
		rep.Passed = rep.Passed && r.Passed()
	}
	rep.DurationMS = ms(time.Since(start))
	sys.close(context.WithoutCancel(ctx), !rep.Passed)
	if cfg.ReportPath != "" {
		if err := writeReport(cfg.ReportPath, rep); err != nil {
			return rep, err
		}
	}
	verdict := "passed"
	if !rep.Passed {
		verdict = "FAILED (logs kept under " + sys.work + ")"
	}
	fmt.Fprintf(cfg.Out, "chaos: %s in %s\n", verdict, time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if !rep.Passed {
		return rep, errors.New("lost acknowledged sends, duplicates or invariant violations (see above)")
	}
	return rep, nil
}

func writeReport(path string, rep *Report) error {
	b, err := json.Marshal(rep, jsontext.WithIndent("  "))
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
