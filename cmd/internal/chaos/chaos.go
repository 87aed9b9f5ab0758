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

	"happychat/schemas"
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
	StoreStall     time.Duration // PostgreSQL or ClickHouse paused (SIGSTOP) this long
	DiskFull       time.Duration // ClickHouse's data path full this long
	KafkaRestarts  []string      // "sigterm" (kafka.sh stop) and/or "sigkill"
	KafkaDown      time.Duration // how long the broker stays down
	StopFor        time.Duration // SIGSTOP of a command instance (> its 6 s session timeout)
	StormRounds    int           // capacity storms during the command kill
	RollEvery      time.Duration // between the steps of a rolling restart of the services
	BrokerDown     time.Duration // how long a cluster broker stays killed or stopped
	NetSplit       time.Duration // a command instance cut off from the brokers (> its 6 s session timeout)

	SlowMessages int     // messages per phase of the slow-reader scenario
	SlowRate     float64 // their pace
	SlowBody     int     // their size in code points (4-byte emoji)

	ReplayTimeout time.Duration // longest a replay may take

	// Cold join: HistorySends messages appended through the API to
	// HistoryRooms × HistoryMembers by HistoryWorkers clients before a cold
	// command instance joins. SnapshotRecords, if set, is the system's
	// CHAT_SNAPSHOT_RECORDS: at the small size the default (20 000 per
	// partition) would leave the short history without a snapshot, so it
	// is scaled with the history (about 3 snapshots per partition at both
	// sizes).
	HistorySends, HistoryRooms, HistoryMembers, HistoryWorkers int
	SnapshotRecords                                            int

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
		ProjectorKills: 3, KillEvery: 3 * time.Second, StoreOutage: 10 * time.Second, StoreStall: 20 * time.Second, DiskFull: 10 * time.Second,
		KafkaRestarts: []string{"sigterm"}, KafkaDown: 3 * time.Second, StopFor: 10 * time.Second,
		StormRounds: 3, RollEvery: time.Second, BrokerDown: 10 * time.Second, NetSplit: 15 * time.Second, SlowMessages: 800, SlowRate: 150, SlowBody: 1900, ReplayTimeout: time.Minute,
		HistorySends: 20_000, HistoryRooms: 12, HistoryMembers: 5, HistoryWorkers: 96, SnapshotRecords: 1000,
		SendTimeout: 90 * time.Second, CatchUp: 90 * time.Second,
	},
	"full": {
		Name: "full", Partitions: 12, Capacity: 20,
		Rooms: 50, Members: 20, Sends: 100_000, Workers: 64, Lobbies: 10, Hoppers: 20,
		FaultRooms: 20, FaultMembers: 10, FaultRate: 800, FaultWorkers: 48,
		ProjectorKills: 6, KillEvery: 5 * time.Second, StoreOutage: 30 * time.Second, StoreStall: 20 * time.Second, DiskFull: 30 * time.Second,
		KafkaRestarts: []string{"sigterm", "sigkill"}, KafkaDown: 10 * time.Second, StopFor: 15 * time.Second,
		StormRounds: 8, RollEvery: 3 * time.Second, BrokerDown: 30 * time.Second, NetSplit: 30 * time.Second, SlowMessages: 3000, SlowRate: 300, SlowBody: 1900, ReplayTimeout: 5 * time.Minute,
		HistorySends: 1_000_000, HistoryRooms: 120, HistoryMembers: 5, HistoryWorkers: 192,
		SendTimeout: 3 * time.Minute, CatchUp: 5 * time.Minute,
	},
}

// Config is one run of the suite.
type Config struct {
	// Bin is the happychat binary whose processes make up the system.
	Bin string
	// PreviousBin is the previous release's happychat binary, which the
	// rolling-upgrade scenario starts the system on and replaces with Bin
	// (make chaos builds it from git: CHAOS_UPGRADE_FROM).
	PreviousBin string
	Size        Size
	// Scenarios to run, in the suite's order; empty runs them all. Skip
	// leaves some out.
	Scenarios []string
	Skip      []string
	// The shared servers (deploy/local): Kafka brokers, the PostgreSQL URL
	// of an account that may CREATE DATABASE, the ClickHouse native address.
	Brokers []string
	// ClusterBrokers is the bootstrap list of the 3-broker cluster
	// (docs/cluster.md) that the cluster scenarios run a system of their
	// own on; only they need it.
	ClusterBrokers []string
	PGURL          string
	CHAddr         string
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
	// LogLevel is the processes' CHAT_LOG_LEVEL (default info).
	LogLevel string
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
	all := slices.Concat(scenarios, storeScenarios, clusterScenarios)
	for _, n := range slices.Concat(c.Scenarios, c.Skip) {
		if !slices.ContainsFunc(all, func(s scenario) bool { return s.name == n }) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (have %s)", n, strings.Join(ScenarioNames(), ", ")))
		}
	}
	if len(c.selected(clusterScenarios)) > 0 && len(c.ClusterBrokers) == 0 {
		errs = append(errs, errors.New("the cluster scenarios need KAFKA_CLUSTER_BROKERS (deploy/local/env.sh)"))
	}
	return errors.Join(errs...)
}

// selected are the scenarios of list the run includes, in list order.
func (c Config) selected(list []scenario) []scenario {
	var out []scenario
	for _, sc := range list {
		if (len(c.Scenarios) == 0 || slices.Contains(c.Scenarios, sc.name)) && !slices.Contains(c.Skip, sc.name) {
			out = append(out, sc)
		}
	}
	return out
}

// ScenarioNames lists the scenarios in the order they run: those on the
// single broker, those on stores of their own, then those on the 3-broker
// cluster.
func ScenarioNames() []string {
	var out []string
	for _, s := range slices.Concat(scenarios, storeScenarios, clusterScenarios) {
		out = append(out, s.name)
	}
	return out
}

// Describe writes one line per scenario.
func Describe(w io.Writer) {
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-22s %s\n", s.name, s.summary)
	}
	for _, s := range storeScenarios {
		fmt.Fprintf(w, "  %-22s [own stores] %s\n", s.name, s.summary)
	}
	for _, s := range clusterScenarios {
		fmt.Fprintf(w, "  %-22s [3-broker cluster] %s\n", s.name, s.summary)
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
	// The single-broker scenarios, those that pause or fill a store (on
	// a PostgreSQL and a ClickHouse of their own) and the cluster ones each
	// run on a system of their own (its own topics and databases), each
	// followed by the check of its whole history.
	var sysErrs []error
	for _, where := range []placement{onShared, onOwnStores, onCluster} {
		list := map[placement][]scenario{onShared: scenarios, onOwnStores: storeScenarios, onCluster: clusterScenarios}[where]
		if sel := cfg.selected(list); len(sel) > 0 && ctx.Err() == nil {
			if err := runSystem(ctx, cfg, where, sel, rep); err != nil {
				sysErrs = append(sysErrs, err)
			}
		}
	}
	rep.Passed = ctx.Err() == nil && len(sysErrs) == 0
	for _, r := range rep.Scenarios {
		rep.Passed = rep.Passed && r.Passed()
	}
	rep.DurationMS = ms(time.Since(start))
	if cfg.ReportPath != "" {
		if err := writeReport(cfg.ReportPath, rep); err != nil {
			return rep, err
		}
	}
	verdict := "passed"
	if !rep.Passed {
		verdict = "FAILED (logs kept under " + cfg.WorkDir + ")"
		digest(cfg.Out, rep)
	}
	fmt.Fprintf(cfg.Out, "chaos: %s in %s\n", verdict, time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if len(sysErrs) > 0 {
		return rep, errors.Join(sysErrs...)
	}
	if !rep.Passed {
		return rep, errors.New("lost acknowledged sends, duplicates or invariant violations (see above)")
	}
	return rep, nil
}

// placement is where a system runs.
type placement int

const (
	onShared    placement = iota // the single broker and the stores of deploy/local
	onOwnStores                  // the single broker, a PostgreSQL and a ClickHouse of its own (stores.go)
	onCluster                    // the 3-broker cluster, the shared stores
)

func (p placement) String() string {
	switch p {
	case onOwnStores:
		return "the single broker with stores of its own"
	case onCluster:
		return "the 3-broker cluster"
	default:
		return "the single broker"
	}
}

// runSystem starts a system where it says, runs the scenarios on it,
// checks its whole history and stops it, adding the results to rep.
func runSystem(ctx context.Context, cfg Config, where placement, list []scenario, rep *Report) (err error) {
	start := time.Now()
	fmt.Fprintf(cfg.Out, "chaos: size %s, starting the system on %s (logs under %s)\n", cfg.Size.Name, where, cfg.WorkDir)
	var stores *ownStores
	if where == onOwnStores {
		if stores, cfg, err = startOwnStores(ctx, cfg); err != nil {
			return fmt.Errorf("start the stores of %s: %w", where, err)
		}
		defer stores.stop(context.WithoutCancel(ctx))
	}
	sys, err := startSystem(ctx, cfg, where == onCluster)
	if err != nil {
		return fmt.Errorf("start the system on %s: %w", where, err)
	}
	sys.stores = stores
	rep.Topics = joinNonEmpty(rep.Topics, "chaos"+sys.tag)
	rep.Database = joinNonEmpty(rep.Database, sys.db)
	rep.WorkDir = joinNonEmpty(rep.WorkDir, sys.work)
	fmt.Fprintf(cfg.Out, "chaos: system up in %s (topics chaos%s.*, databases %s)\n", time.Since(start).Round(100*time.Millisecond), sys.tag, sys.db)

	list, upgradeFirst := atBuildLevel(list)
	if !upgradeFirst {
		if err := sys.raiseLevel(ctx, schemas.FeatureLevel); err != nil {
			return errors.Join(fmt.Errorf("the system on %s: %w", where, err), sys.close(context.WithoutCancel(ctx), true))
		}
	}
	if upgradeFirst {
		fmt.Fprintf(cfg.Out, "chaos: feature level %d: rolling-upgrade runs first and raises it to %d\n", sys.level, schemas.FeatureLevel)
	} else {
		fmt.Fprintf(cfg.Out, "chaos: feature level %d\n", sys.level)
	}

	st := &suite{sys: sys, size: cfg.Size}
	passed := true
	report := func(res *Result) {
		rep.Scenarios = append(rep.Scenarios, res)
		passed = passed && res.Passed()
		fmt.Fprintln(cfg.Out, res.Line())
		if !res.Passed() {
			res.writeDetails(cfg.Out)
		}
	}
	for i, sc := range list {
		if ctx.Err() != nil {
			break
		}
		report(st.run(ctx, sc))
		if i == 0 && upgradeFirst && sys.level < schemas.FeatureLevel {
			// The upgrade stopped short of raising it (its findings say
			// why): the scenarios after it still run at the build's level.
			if err := sys.raiseLevel(ctx, schemas.FeatureLevel); err != nil {
				return errors.Join(fmt.Errorf("the system on %s: %w", where, err), sys.close(context.WithoutCancel(ctx), true))
			}
		}
	}
	if ctx.Err() == nil {
		report(st.wholeHistory(ctx))
	}
	return sys.close(context.WithoutCancel(ctx), !passed || ctx.Err() != nil)
}

// atBuildLevel orders the scenarios of one system so that they run at this
// build's feature level (docs/adr/0004): every event type the build can
// emit, sealed texts included (docs/adr/0009), is then under the faults.
// The exception is rolling-upgrade, which starts the system on the previous
// release, and a cluster above that release's level refuses it: it runs
// first, and its raise of the level is the one the scenarios after it run
// at. Without it the suite raises the level before the first scenario.
func atBuildLevel(list []scenario) (ordered []scenario, upgradeFirst bool) {
	i := slices.IndexFunc(list, func(sc scenario) bool { return sc.name == "rolling-upgrade" })
	if i < 0 {
		return list, false
	}
	return slices.Concat(list[i:i+1], list[:i], list[i+1:]), true
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
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

// digest repeats, last, the first line of the first findings of each
// failed scenario: where only the head and the end of the output are kept
// (a CI's summary), the reason must be at the end.
func digest(out io.Writer, rep *Report) {
	for _, r := range rep.Scenarios {
		if r.Passed() {
			continue
		}
		for i, f := range r.Findings {
			if i == 3 {
				fmt.Fprintf(out, "chaos: %s: %d findings more in the report\n", r.Name, len(r.Findings)-i)
				break
			}
			line, _, _ := strings.Cut(f.Detail, "\n")
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			fmt.Fprintf(out, "chaos: %s: %s: %s\n", r.Name, f.Kind, line)
		}
	}
}
