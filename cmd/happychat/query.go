package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/cmd/internal/httpserver"
	"happychat/query"
)

// runQuery runs the query service alone: the read routes under /v1 (rooms,
// history, export, analytics, the OpenAPI document) over the PostgreSQL
// views (PG_URL) and the ClickHouse history (CLICKHOUSE_ADDR, CLICKHOUSE_DB),
// plus /healthz and /readyz (both stores, and the revoked tokens read from
// the users topic at KAFKA_BROKERS), on CHAT_HTTP_ADDR; /metrics and pprof
// on CHAT_INTERNAL_ADDR.
func runQuery(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.requireSecret(); err != nil {
		return err
	}
	if len(p.brokers) == 0 {
		return errors.New("KAFKA_BROKERS must be set: the query service reads revoked tokens from the users topic")
	}
	svc, err := p.queryService(ctx)
	if err != nil {
		return err
	}
	checks := append(queryChecks(svc), httpserver.Check{Name: "revocations", Ping: p.revocations().Ready})
	engine := httpserver.NewEngine(checks, p.log)
	svc.Register(engine)
	return p.serveWith(ctx, env, engine, httpserver.NewInternalEngine(p.reg, checks, p.log), func(ctx context.Context, _ listeners) error {
		return p.tailRevocations(ctx)
	})
}

// queryService builds the query service on its own store connections,
// closed with the process.
func (p *process) queryService(ctx context.Context) (*query.Service, error) {
	keys, err := p.tokenKeys()
	if err != nil {
		return nil, err
	}
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return nil, fmt.Errorf("PG_URL: %w", err)
	}
	p.cleanup = append(p.cleanup, pg.Close)
	ch, err := clickhouse.Open(&clickhouse.Options{
		Addr: []string{p.cfg.CHAddr},
		Auth: clickhouse.Auth{Database: p.cfg.CHDatabase},
		// Exports hold a connection while they stream; pages take one
		// for a few milliseconds.
		MaxOpenConns: 32,
		MaxIdleConns: 8,
		DialTimeout:  5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("CLICKHOUSE_ADDR: %w", err)
	}
	p.cleanup = append(p.cleanup, func() { _ = ch.Close() })
	return query.New(query.Config{
		PG: pg, CH: ch, Keys: keys, AdminToken: p.cfg.AdminToken, Capacity: p.cfg.Capacity,
		Views: []string{p.cfg.Names().Rooms, p.cfg.Names().Users},
		Log:   p.log.With("service", "query"), Metrics: p.reg,
		Limits: query.Limits{
			Addresses: p.cfg.Limits.Addresses(), PerAddress: p.cfg.Limits.PerAddress,
			Reads: p.cfg.Limits.Reads, HeavyReads: p.cfg.Limits.HeavyReads,
		},
		AnalyticsConcurrency: p.cfg.AnalyticsConcurrency, ExportConcurrency: p.cfg.ExportConcurrency,
		AnalyticsMaxRows: p.cfg.AnalyticsMaxRows, AnalyticsMaxBytes: p.cfg.AnalyticsMaxBytes,
	})
}

// queryChecks are the query service's readiness pings as httpserver checks.
func queryChecks(svc *query.Service) []httpserver.Check {
	var out []httpserver.Check
	for _, c := range svc.Checks() {
		out = append(out, httpserver.Check(c))
	}
	return out
}
