package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/cmd/internal/httpserver"
	"happychat/internal/msgkeys"
	"happychat/projector"
)

// runProjector runs both projectors (PostgreSQL views, ClickHouse history)
// against KAFKA_BROKERS, applying the migrations first, and serves /healthz
// and /readyz (Kafka, PostgreSQL, ClickHouse, no blocked partition) on
// CHAT_HTTP_ADDR, and those with /metrics and pprof on CHAT_INTERNAL_ADDR.
// Several instances may run: partitions are spread among them (give each a
// distinct CHAT_INSTANCE_ID).
func runProjector(ctx context.Context, env Env, _ []string) error {
	p, err := newBrokerProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	pg, ch, err := p.openProjectorStores(ctx)
	if err != nil {
		return err
	}
	cl, err := p.kafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	pp, err := p.projectors(pg, ch, nil)
	if err != nil {
		return err
	}
	checks := append([]httpserver.Check{
		{Name: "kafka", Ping: cl.Ping},
		{Name: "postgres", Ping: pg.Ping},
		{Name: "clickhouse", Ping: ch.Ping},
	}, pp.checks()...)
	public, internal := httpserver.NewEngine(checks, p.log), httpserver.NewInternalEngine(p.reg, checks, p.log)
	return p.serveWith(ctx, env, public, internal, func(ctx context.Context, _ listeners) error {
		return p.runProjectors(ctx, pg, ch, pp)
	})
}

// projectorPair is the PostgreSQL and the ClickHouse projector of a process.
type projectorPair struct {
	pg *projector.Postgres
	ch *projector.ClickHouse
}

// checks are the pair's /readyz checks: partitions stopped at an event this
// build does not know (docs/projector.md, "Rolling upgrades").
func (pp projectorPair) checks() []httpserver.Check {
	return []httpserver.Check{
		{Name: "projector_postgres_partitions", Ping: pp.pg.Ready},
		{Name: "projector_clickhouse_partitions", Ping: pp.ch.Ready},
	}
}

// projectors builds both projectors from the configuration. keys opens the
// history's sealed texts; nil makes a reader on pg (the all-in-one mode
// passes the one its command owners seed).
func (p *process) projectors(pg *pgxpool.Pool, ch driver.Conn, keys *msgkeys.Reader) (projectorPair, error) {
	rules, err := p.rules()
	if err != nil {
		return projectorPair{}, err
	}
	log := p.log.With("service", "projector")
	opts := p.kafkaOpts()
	names := p.cfg.Names()
	if keys == nil {
		keys = msgkeys.NewReader(pg, names.Rooms)
	}
	// Static group membership: a restarted instance takes its partitions
	// back at once, instead of waiting out its previous life's session.
	instance := strconv.Itoa(max(p.cfg.InstanceID, 0))
	pgp, err := projector.NewPostgres(projector.PostgresConfig{
		Pool: pg, Names: names, Kafka: opts, InstanceID: "projector-postgres-" + instance,
		Log: log, Metrics: p.reg,
	})
	if err != nil {
		return projectorPair{}, err
	}
	chp, err := projector.NewClickHouse(projector.ClickHouseConfig{
		Conn: ch, Names: names, Kafka: opts, InstanceID: "projector-clickhouse-" + instance,
		Rules: rules, Log: log, Metrics: p.reg, MessageKeys: keys, FlushInterval: p.cfg.CHFlush,
	})
	if err != nil {
		return projectorPair{}, err
	}
	return projectorPair{pg: pgp, ch: chp}, nil
}

// runProjectors migrates both stores, then runs the PostgreSQL and the
// ClickHouse projector until ctx ends. Failures of Kafka or of a store are
// retried inside the projectors; an error here is a failed migration or a
// build below the cluster's feature level. The dev mode calls it with its
// own connections.
func (p *process) runProjectors(ctx context.Context, pg *pgxpool.Pool, ch driver.Conn, pp projectorPair) error {
	log := p.log.With("service", "projector")
	// A store that is down at start only delays the projectors: exiting
	// would make a supervisor restart them in a loop.
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		err := projector.Migrate(ctx, pg, ch, log)
		if err == nil {
			break
		}
		log.Error("migrations failed, retrying (are PostgreSQL and ClickHouse up?)", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		_ = p.ensureClickHouseDatabase(ctx)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = pp.pg.Run(ctx) })
	wg.Go(func() { errs[1] = pp.ch.Run(ctx) })
	wg.Wait()
	return errors.Join(errs...)
}

// openProjectorStores connects to PG_URL and to CLICKHOUSE_ADDR /
// CLICKHOUSE_DB (creating the ClickHouse database if it is missing); both
// are closed with the process.
func (p *process) openProjectorStores(ctx context.Context) (*pgxpool.Pool, driver.Conn, error) {
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return nil, nil, fmt.Errorf("PG_URL: %w", err)
	}
	p.cleanup = append(p.cleanup, pg.Close)
	if err := p.ensureClickHouseDatabase(ctx); err != nil {
		return nil, nil, err
	}
	ch, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{p.cfg.CHAddr},
		Auth:         clickhouse.Auth{Database: p.cfg.CHDatabase},
		MaxOpenConns: 8,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  60 * time.Second,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("CLICKHOUSE_ADDR: %w", err)
	}
	p.cleanup = append(p.cleanup, func() { _ = ch.Close() })
	return pg, ch, nil
}

// ensureClickHouseDatabase creates CLICKHOUSE_DB if it does not exist. A
// server that is down is not an error here: the projector waits for it.
func (p *process) ensureClickHouseDatabase(ctx context.Context) error {
	admin, err := clickhouse.Open(&clickhouse.Options{Addr: []string{p.cfg.CHAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("CLICKHOUSE_ADDR: %w", err)
	}
	defer func() { _ = admin.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+p.cfg.CHDatabase+"`"); err != nil {
		p.log.Warn("cannot create the ClickHouse database (yet)", "db", p.cfg.CHDatabase, "err", err)
	}
	return nil
}
