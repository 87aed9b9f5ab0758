package chaos

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/kafkacluster"
	"happychat/schemas"
)

// Process names of the topology.
const (
	procCommandA  = "command-a"
	procCommandB  = "command-b"
	procProjector = "projector"
	procQuery     = "query"
	procRealtime1 = "realtime-1"
	procRealtime2 = "realtime-2"
)

// system is one run's deployment of happychat, split into its services
// exactly as production runs them, against the real servers: its own topic
// prefix, its own PostgreSQL and ClickHouse databases, its own processes.
//
//	command-a, command-b    two command instances (owners of room partitions)
//	projector               both projectors (PostgreSQL views, ClickHouse history)
//	query                   the read side
//	realtime-1, realtime-2  two realtime instances (send through command-b)
//
// Faults are injected into command-a (never command-b, through which the
// realtime instances reach the command service), the projector, the
// realtime instances and the servers.
type system struct {
	cfg   Config
	tag   string
	names schemas.Names
	db    string // PostgreSQL and ClickHouse database name
	pgURL string
	env   []string // the children's environment
	work  string
	admin string

	procs map[string]*proc
	order []string
	api   *api
	hc    *http.Client

	pg    *pgxpool.Pool
	ch    driver.Conn
	kafka *kgo.Client
	srv   servers
	// brokers are the system's Kafka: cfg.Brokers, or cfg.ClusterBrokers
	// for the cluster scenarios, whose faults cluster injects.
	brokers []string
	cluster *kafkacluster.Injector
	// stores are the system's own PostgreSQL and ClickHouse, for the
	// scenarios that pause or fill them; nil on the shared ones.
	stores *ownStores

	mu sync.Mutex
	// poison counts the undecodable records the suite appended.
	poison int
	// kafkaOurs is set once the suite restarted the broker itself.
	kafkaOurs bool
	// level is the cluster feature level the system runs at (1 until the
	// suite raises it, see atBuildLevel).
	level int
	// readers hold a member's token for each private room: only members
	// read it (setupRooms).
	readers map[schemas.ID]string
}

// reader returns the token to read room with: a member's for a private
// room, none (anonymous) for a topic.
func (s *system) reader(room schemas.ID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readers[room]
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withDatabase returns pgURL pointing at database db.
func withDatabase(pgURL, db string) (string, error) {
	u, err := url.Parse(pgURL)
	if err != nil {
		return "", fmt.Errorf("PG_URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// childEnv is the suite's environment without any happychat setting (so
// that an operator's shell does not leak into the system under test), plus
// the run's settings.
func childEnv(base []string, set map[string]string) []string {
	var out []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CHAT_") || k == "KAFKA_BROKERS" || k == "PG_URL" ||
			strings.HasPrefix(k, "CLICKHOUSE_") || k == "HAPPYCHAT_STATE_DIR" {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

// startSystem creates the run's databases and topics and starts every
// process, returning once all of them answer /readyz. onCluster puts it on
// the 3-broker cluster, with topics replicated 3 times (2 in sync to
// write), and takes the cluster's fault lock (kafkacluster) until close.
func startSystem(ctx context.Context, cfg Config, onCluster bool) (_ *system, err error) {
	s := &system{cfg: cfg, tag: randHex(4), procs: map[string]*proc{}, brokers: cfg.Brokers, level: 1}
	replication := map[string]string{}
	if onCluster {
		s.brokers = cfg.ClusterBrokers
		replication["CHAT_REPLICATION_FACTOR"] = strconv.Itoa(kafkacluster.Replicas)
		replication["CHAT_MIN_INSYNC_REPLICAS"] = strconv.Itoa(kafkacluster.Replicas - 1)
	}
	s.names = schemas.NamesFor("chaos" + s.tag)
	s.db = "chaos_" + s.tag
	s.work = filepath.Join(cfg.WorkDir, "run-"+s.tag)
	s.admin = "chaos-admin-" + randHex(16)
	s.srv = servers{dir: cfg.DeployDir, stateDir: cfg.StateDir, env: cfg.Environ}
	s.hc = &http.Client{Timeout: 5 * time.Second}
	defer func() {
		if err != nil {
			_ = s.close(context.WithoutCancel(ctx), true)
		}
	}()
	if err := os.MkdirAll(filepath.Join(s.work, "state"), 0o755); err != nil {
		return s, err
	}
	if onCluster {
		log := cfg.Log
		s.cluster, err = kafkacluster.Open(ctx, s.brokers, kafkacluster.Options{
			Script: filepath.Join(cfg.DeployDir, "kafka-cluster.sh"),
			Logf:   func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
		})
		if err != nil {
			return s, fmt.Errorf("the 3-broker cluster: %w", err)
		}
	}
	if err := s.createDatabases(ctx); err != nil {
		return s, err
	}
	s.env = childEnv(cfg.Environ, map[string]string{
		"KAFKA_BROKERS":        strings.Join(s.brokers, ","),
		"PG_URL":               s.pgURL,
		"CLICKHOUSE_ADDR":      cfg.CHAddr,
		"CLICKHOUSE_DB":        s.db,
		"CHAT_TOPIC_PREFIX":    "chaos" + s.tag,
		"CHAT_ROOM_PARTITIONS": strconv.Itoa(cfg.Size.Partitions),
		"CHAT_USER_PARTITIONS": "2",
		"CHAT_ROOM_CAPACITY":   strconv.Itoa(cfg.Size.Capacity),
		"CHAT_TOKEN_SECRET":    randHex(24),
		"CHAT_ADMIN_TOKEN":     s.admin,
		"CHAT_SEND_RATE":       "100000",
		"CHAT_SEND_BURST":      "100000",
		"CHAT_JOIN_RATE":       "100000",
		"CHAT_JOIN_BURST":      "100000",
		// Every client of the suite is on this host: the operator's
		// allowlist exempts it from the address limits, and the per-user
		// and per-room limits are lifted like the send and join ones, since
		// the scenarios measure faults, not limits.
		"CHAT_RATE_LIMIT_EXEMPT":     "127.0.0.0/8,::1",
		"CHAT_SESSIONS_PER_MINUTE":   "1000000",
		"CHAT_LEAVE_RATE":            "100000",
		"CHAT_LEAVE_BURST":           "100000",
		"CHAT_READ_MARK_RATE":        "100000",
		"CHAT_READ_MARK_BURST":       "100000",
		"CHAT_ROOM_CHURN_RATE":       "100000",
		"CHAT_ROOM_CHURN_BURST":      "100000",
		"CHAT_PROPOSAL_RATE":         "100000",
		"CHAT_PROPOSAL_BURST":        "100000",
		"CHAT_READ_RATE":             "100000",
		"CHAT_READ_BURST":            "100000",
		"CHAT_HEAVY_READ_RATE":       "100000",
		"CHAT_HEAVY_READ_BURST":      "100000",
		"CHAT_WS_MAX_CONNS_PER_USER": "20",
		"CHAT_LOG_LEVEL":             cmp.Or(cfg.LogLevel, "info"),
		"HAPPYCHAT_STATE_DIR":        filepath.Join(s.work, "state"),
	})
	for k, v := range replication {
		s.env = append(s.env, k+"="+v)
	}
	if n := cfg.Size.SnapshotRecords; n > 0 {
		s.env = append(s.env, "CHAT_SNAPSHOT_RECORDS="+strconv.Itoa(n))
	}
	if _, err := runOnce(ctx, cfg.Bin, s.env, filepath.Join(s.work, "topics.log"), 2*time.Minute, "topics"); err != nil {
		return s, err
	}
	if _, err := runOnce(ctx, cfg.Bin, s.env, filepath.Join(s.work, "migrate.log"), 2*time.Minute, "migrate"); err != nil {
		return s, err
	}
	addrs := map[string]string{}
	for _, n := range []string{procCommandA, procCommandB, procProjector, procQuery, procRealtime1, procRealtime2} {
		if addrs[n], err = freeAddr(); err != nil {
			return s, err
		}
	}
	if _, err := s.addCommand(procCommandA, addrs[procCommandA]); err != nil {
		return s, err
	}
	cmdB, err := s.addCommand(procCommandB, addrs[procCommandB])
	if err != nil {
		return s, err
	}
	// The realtime instances reach the command service on its internal
	// listener, as a split deployment does.
	for _, p := range []struct {
		name, sub string
		extra     []string
	}{
		{procProjector, "projector", []string{"CHAT_INSTANCE_ID=1"}},
		{procQuery, "query", nil},
		{procRealtime1, "realtime", []string{"CHAT_INSTANCE_ID=3", "CHAT_COMMAND_URL=" + cmdB.internalURL()}},
		{procRealtime2, "realtime", []string{"CHAT_INSTANCE_ID=4", "CHAT_COMMAND_URL=" + cmdB.internalURL()}},
	} {
		if _, err := s.addProc(p.name, p.sub, addrs[p.name], p.extra...); err != nil {
			return s, err
		}
	}
	for _, n := range s.order {
		if err := s.procs[n].start(); err != nil {
			return s, err
		}
	}
	if err := s.waitReady(ctx, 2*time.Minute); err != nil {
		return s, err
	}
	s.api = newAPI([]string{s.procs[procCommandA].url(), s.procs[procCommandB].url()}, s.procs[procQuery].url(), s.admin)
	if s.kafka, err = kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner())); err != nil {
		return s, fmt.Errorf("kafka client: %w", err)
	}
	return s, nil
}

// addProc adds process name, `happychat sub` listening on addr (and on a
// free internal address) with the system's environment plus extra, to the
// system (not started).
func (s *system) addProc(name, sub, addr string, extra ...string) (*proc, error) {
	internal, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := append(append([]string(nil), s.env...), extra...)
	p := newProc(name, s.cfg.Bin, addr, internal, filepath.Join(s.work, name+".log"), env, sub)
	s.procs[name] = p
	s.order = append(s.order, name)
	return p, nil
}

// addCommand adds a command instance. Command instances lease their
// instance ids: a SIGKILLed one restarts at once on a free id instead of
// waiting for its old lease. Its peers forward to its internal listener,
// the address it advertises by default.
func (s *system) addCommand(name, addr string) (*proc, error) {
	return s.addProc(name, "command", addr)
}

func (s *system) createDatabases(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, s.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL at PG_URL: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{s.db}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", s.db, err)
	}
	if s.pgURL, err = withDatabase(s.cfg.PGURL, s.db); err != nil {
		return err
	}
	if s.pg, err = pgxpool.New(ctx, s.pgURL); err != nil {
		return fmt.Errorf("PostgreSQL %s: %w", s.db, err)
	}
	root, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.cfg.CHAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("ClickHouse at %s: %w", s.cfg.CHAddr, err)
	}
	defer root.Close()
	if err := root.Exec(ctx, "CREATE DATABASE "+s.db); err != nil {
		return fmt.Errorf("ClickHouse at %s: create database %s: %w", s.cfg.CHAddr, s.db, err)
	}
	s.ch, err = clickhouse.Open(&clickhouse.Options{Addr: []string{s.cfg.CHAddr}, Auth: clickhouse.Auth{Database: s.db},
		DialTimeout: 5 * time.Second, ReadTimeout: time.Minute, MaxOpenConns: 4})
	if err != nil {
		return fmt.Errorf("ClickHouse %s: %w", s.db, err)
	}
	return nil
}

// waitReady waits until every running process answers /readyz.
func (s *system) waitReady(ctx context.Context, timeout time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.order))
	for i, n := range s.order {
		p := s.procs[n]
		if !p.running() {
			continue
		}
		wg.Go(func() { errs[i] = p.waitReady(ctx, s.hc, timeout) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// realtimeURLs are the WebSocket bases of the realtime instances.
func (s *system) realtimeURLs() []string {
	return []string{"ws://" + s.procs[procRealtime1].addr, "ws://" + s.procs[procRealtime2].addr}
}

// crashes collects the unexpected exits of every process.
func (s *system) crashes() []Finding {
	var out []Finding
	for _, n := range s.order {
		for _, c := range s.procs[n].takeCrashes() {
			out = append(out, finding(KindProcess, 0, "%s; its log ends:\n%s", c, s.procs[n].logTail(15)))
		}
	}
	return out
}

// close stops every process and, unless the run keeps them, drops the
// databases and topics. failed keeps the work directory (logs). On the
// cluster it brings back any broker still down and releases the cluster;
// the error is that restore's.
func (s *system) close(ctx context.Context, failed bool) error {
	var wg sync.WaitGroup
	for _, p := range s.procs {
		wg.Go(p.stop)
	}
	wg.Wait()
	if s.pg != nil {
		s.pg.Close()
	}
	if s.ch != nil {
		_ = s.ch.Close()
	}
	if !s.cfg.Keep {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if admin, err := pgx.Connect(ctx, s.cfg.PGURL); err == nil {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{s.db}.Sanitize()+" WITH (FORCE)")
			_ = admin.Close(ctx)
		}
		if root, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.cfg.CHAddr}, DialTimeout: 5 * time.Second}); err == nil {
			_ = root.Exec(ctx, "DROP DATABASE IF EXISTS "+s.db)
			_ = root.Close()
		}
		if s.kafka != nil {
			_, _ = kadm.NewClient(s.kafka).DeleteTopics(ctx, s.names.Rooms, s.names.Users)
		}
		if !failed {
			_ = os.RemoveAll(s.work)
		}
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	if s.cluster != nil {
		return s.cluster.Close(ctx)
	}
	return nil
}

// injectPoison appends records no consumer can decode to the partition of
// room: a torn JSON value and a well-formed envelope of an unknown type.
func (s *system) injectPoison(ctx context.Context, room schemas.ID) error {
	part := schemas.Partition(room, s.cfg.Size.Partitions)
	values := [][]byte{
		[]byte(`{"id":"1","type":"message.sent","version":1,"room_id":"` + room.String() + `","seq":`),
		[]byte(`{"id":"7","type":"message.exploded","version":1,"room_id":"` + room.String() + `","seq":1,"occurred_at":"2026-11-22T21:21:13.123Z","payload":{}}`),
	}
	for _, v := range values {
		rec := &kgo.Record{Topic: s.names.Rooms, Partition: part, Key: schemas.Key(room), Value: v,
			Headers: []kgo.RecordHeader{{Key: schemas.HeaderType, Value: []byte("chaos.poison")}}}
		if err := s.kafka.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return fmt.Errorf("append poison: %w", err)
		}
		s.mu.Lock()
		s.poison++
		s.mu.Unlock()
	}
	return nil
}

func (s *system) poisoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.poison
}
