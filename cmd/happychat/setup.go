package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/cmd/internal/config"
	"happychat/cmd/internal/kafka"
	"happychat/internal/revoked"
)

// process is what every serving subcommand sets up first: configuration,
// logger, metrics registry, and (where needed) a Kafka connection.
type process struct {
	cfg     config.Config
	log     *slog.Logger
	reg     *prometheus.Registry
	brokers []string
	// conn is how every Kafka client of the process dials and
	// authenticates (kafka.Connection): each client takes it.
	conn    []kgo.Opt
	cleanup []func()
	revoked *revoked.Set // see revocations
}

func newProcess(env Env) (*process, error) {
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("CHAT_LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	conn, err := kafka.Connection(cfg.KafkaAuth, cfg.KafkaDialMap)
	if err != nil {
		return nil, err
	}
	if cfg.KafkaAuth.Mechanism != "" {
		log.Info("kafka: authenticating", "mechanism", cfg.KafkaAuth.Mechanism, "user", cfg.KafkaAuth.User, "ca", cfg.KafkaAuth.CAFile)
	}
	return &process{cfg: cfg, log: log, reg: reg, brokers: cfg.KafkaBrokers, conn: conn}, nil
}

func (p *process) close() {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
}

// embedKafkaIfUnset starts the embedded broker when no brokers are
// configured (dev mode only). Its log persists under the state directory.
func (p *process) embedKafkaIfUnset() error {
	if len(p.brokers) > 0 {
		return nil
	}
	if p.cfg.KafkaAuth.Enabled() {
		return errors.New("CHAT_KAFKA_SASL_MECHANISM / CHAT_KAFKA_TLS need KAFKA_BROKERS: the embedded broker is plaintext")
	}
	dir := filepath.Join(p.cfg.StateDir, "kfake")
	c, err := kafka.Embedded(dir)
	if err != nil {
		return err
	}
	p.cleanup = append(p.cleanup, c.Close)
	p.brokers = c.ListenAddrs()
	p.log.Info("embedded Kafka-protocol broker (kfake) started", "brokers", strings.Join(p.brokers, ","), "data_dir", dir)
	return nil
}

// kafkaOpts are the system's base options (seeds, logger, acks...) with
// the process's connection: what every client of a role that does not add
// its own seeds takes.
func (p *process) kafkaOpts() []kgo.Opt {
	return slices.Concat(kafka.BaseOpts(p.brokers, p.log), p.conn)
}

// serviceKafkaOpts are the options a service that names its own seeds
// (command, realtime) adds to its clients: the logger and the connection.
func (p *process) serviceKafkaOpts() []kgo.Opt {
	return slices.Concat(kafka.LogOpts(p.log), p.conn)
}

// newBrokerProcess is newProcess for a subcommand that needs Kafka's
// address (KAFKA_BROKERS): no embedded broker stands in.
func newBrokerProcess(env Env) (*process, error) {
	p, err := newProcess(env)
	if err != nil {
		return nil, err
	}
	if len(p.brokers) == 0 {
		p.close()
		return nil, errors.New("KAFKA_BROKERS is not set")
	}
	return p, nil
}

// kafkaClient returns a client with kafkaOpts plus opts.
func (p *process) kafkaClient(opts ...kgo.Opt) (*kgo.Client, error) {
	if len(p.brokers) == 0 {
		return nil, fmt.Errorf("KAFKA_BROKERS is not set")
	}
	cl, err := kgo.NewClient(slices.Concat(p.kafkaOpts(), opts)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// ensureTopics creates the event topics if missing.
func (p *process) ensureTopics(ctx context.Context) error {
	cl, err := p.kafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	return kafka.EnsureTopics(ctx, cl, p.cfg.Names(), kafka.TopicSpec{
		RoomPartitions: p.cfg.RoomParts, UserPartitions: p.cfg.UserParts,
		Replication: p.cfg.Replication, MinISR: p.cfg.MinISR,
	})
}

// hostOf returns the host:port of a PostgreSQL URL (never its password).
func hostOf(pgURL string) string {
	u, err := url.Parse(pgURL)
	if err != nil {
		return "?"
	}
	return u.Host
}

// instanceName names a realtime instance in the fleet's advertisements
// (internal/fleet): the host and the address it serves, stable across
// restarts. Empty (a random name) when the address is not known before the
// listener binds (port 0, as tests use).
func (p *process) instanceName() string {
	addr := p.cfg.AdvertiseAddr
	if addr == "" {
		addr = p.cfg.HTTPAddr
	}
	if addr == "" || strings.HasSuffix(addr, ":0") {
		return ""
	}
	host, _ := os.Hostname()
	return host + "@" + addr
}
