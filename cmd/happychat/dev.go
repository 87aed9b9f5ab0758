package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/cmd/internal/httpserver"
	"happychat/command"
	"happychat/internal/fleet"
	"happychat/internal/msgkeys"
	"happychat/realtime"
	"happychat/realtime/web"
	"happychat/schemas"
)

// runDev runs every service in one process on one public address (and one
// internal one, CHAT_INTERNAL_ADDR, for /metrics, pprof and the command
// service's internal protocol, which other command instances may use): the command
// service (writes), the projectors, the query service (reads), the realtime
// service (WebSocket), the Web Push notifier (its VAPID keys generated into
// the state directory unless set) and the web client. Kafka is embedded (kfake, its log
// persisted under the state directory) unless KAFKA_BROKERS is set;
// PostgreSQL and ClickHouse come from PG_URL and CLICKHOUSE_ADDR.
//
// Restarts never leave views that disagree with the log: the embedded
// broker keeps its log on disk, and the projectors store the topic ids they
// built from, rebuilding from scratch when the log is a different one.
func runDev(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	generatedAdmin, err := p.devAdminToken()
	if err != nil {
		return err
	}
	engine, internal, work, err := p.buildDev(ctx)
	if err != nil {
		return err
	}
	return p.serveWith(ctx, env, engine, internal, func(ctx context.Context, addrs listeners) error {
		p.log.Info("happychat dev is up", "url", "http://"+addrs.public+"/", "internal", addrs.internal, "kafka", p.brokers,
			"postgres", hostOf(p.cfg.PGURL), "clickhouse", p.cfg.CHAddr+"/"+p.cfg.CHDatabase)
		fmt.Fprintf(env.Stdout, "happychat is running: open http://%s/\n", addrs.public)
		if generatedAdmin {
			fmt.Fprintf(env.Stdout, "to act as the admin, open http://%s/admin and enter the dev admin token %s\n"+
				"(generated, kept in %s; set CHAT_ADMIN_TOKEN to use your own)\n",
				addrs.public, p.cfg.AdminToken, filepath.Join(p.cfg.StateDir, "dev-admin-token"))
		}
		return work(ctx, addrs)
	})
}

// buildDev sets up every service of the all-in-one mode and returns the
// public engine (every public route), the internal one, and the background
// work to run once both listen.
func (p *process) buildDev(ctx context.Context) (public, internal *gin.Engine, work func(ctx context.Context, addrs listeners) error, err error) {
	if err := p.devSecret(); err != nil {
		return nil, nil, nil, err
	}
	if err := p.devVAPIDKeys(); err != nil {
		return nil, nil, nil, err
	}
	if err := p.embedKafkaIfUnset(); err != nil {
		return nil, nil, nil, err
	}
	if err := p.ensureTopics(ctx); err != nil {
		return nil, nil, nil, err
	}
	pg, ch, err := p.openProjectorStores(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	p.raiseDevLevel(ctx, pg)
	// The owners' pool of their own, as when split: the projectors' view
	// writes do not queue their key stores.
	cmdPG, err := p.commandPool(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	p.cleanup = append(p.cleanup, cmdPG.Close)
	// The tail opens every live message's text, so it has its own pool
	// too, as when split (behind the projectors' view writes it waited tens
	// of milliseconds a poll), and the owners seed its cache with the keys
	// they store: a live message opens without a query (issue 16).
	rtPG, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("PG_URL: %w", err)
	}
	p.cleanup = append(p.cleanup, rtPG.Close)
	local := &localDelivery{keys: msgkeys.NewReader(rtPG, p.cfg.Names().Rooms)}
	cmdSvc, err := p.commandService(cmdPG, local)
	if err != nil {
		return nil, nil, nil, err
	}
	qSvc, err := p.queryService(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	rt, err := p.realtimeService(localCommands{svc: cmdSvc}, p.clickhouseLocator(), local.keys)
	if err != nil {
		return nil, nil, nil, err
	}
	local.rt.Store(rt)
	pp, err := p.projectors(pg, ch, local.keys)
	if err != nil {
		return nil, nil, nil, err
	}
	push, err := p.notifierService(pg)
	if err != nil {
		return nil, nil, nil, err
	}
	checks := append([]httpserver.Check{
		{Name: "command", Ping: cmdSvc.Ready},
		{Name: "realtime_tail", Ping: rt.Ready},
		{Name: "realtime_rooms", Ping: rt.Blocked},
		{Name: "revocations", Ping: p.revocations().Ready},
		{Name: "notifier", Ping: push.Ready},
	}, append(queryChecks(qSvc), pp.checks()...)...)
	public = httpserver.NewEngine(checks, p.log)
	cmdSvc.Routes(public)
	qSvc.Register(public)
	rt.Register(public)
	push.Register(public)
	public.NoRoute(gin.WrapH(web.Handler()))
	internal = httpserver.NewInternalEngine(p.reg, checks, p.log)
	cmdSvc.InternalRoutes(internal)

	work = func(ctx context.Context, addrs listeners) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		run := func(name string, f func(context.Context) error) {
			wg.Go(func() {
				if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
					mu.Unlock()
				}
				// Any service stopping stops the process: a half-running
				// dev mode would be confusing.
				cancel()
			})
		}
		run("command", func(ctx context.Context) error { return cmdSvc.Run(ctx, p.advertise(addrs.internal)) })
		run("projector", func(ctx context.Context) error { return p.runProjectors(ctx, pg, ch, pp) })
		run("realtime", rt.Run)
		run("revocations", p.tailRevocations)
		run("notifier", push.Run)
		wg.Wait()
		return errors.Join(errs...)
	}
	return public, internal, work, nil
}

// localDelivery wires the all-in-one mode's command owners to its realtime
// service (issue 16): the keys they store seed the tail's key cache, and
// what they commit reaches the local sockets ahead of the tail
// (realtime/local.go). The realtime service is built after the command
// service it forwards to, hence the pointer set late.
type localDelivery struct {
	keys *msgkeys.Reader
	rt   atomic.Pointer[realtime.Service]
}

func (l *localDelivery) keysStored() func([]msgkeys.Key) {
	if l == nil {
		return nil
	}
	return l.keys.Seed
}

func (l *localDelivery) committed() func([]*kgo.Record) {
	if l == nil {
		return nil
	}
	return func(recs []*kgo.Record) {
		if rt := l.rt.Load(); rt != nil {
			rt.Committed(recs)
		}
	}
}

// raiseDevLevel raises the cluster's feature level to this build's, as an
// operator would with `happychat features --set`, by the same procedure
// (refused while a live instance of an older build runs): every role of
// the all-in-one mode is this build, so its events (session.revoked, level
// 2) may be written from the start. A refusal is logged and dev runs on at
// the lower level. Split deployments never do this: their operators raise
// the level once every instance is upgraded (docs/command.md, "Rolling
// upgrades").
func (p *process) raiseDevLevel(ctx context.Context, pg *pgxpool.Pool) {
	names := p.cfg.Names()
	level, _, err := command.FeatureLevels(ctx, pg, names)
	if err != nil || level >= schemas.FeatureLevel {
		if err != nil {
			p.log.Warn("dev: cluster feature level not read; not raised", "err", err)
		}
		return
	}
	err = fleet.SetLevel(ctx, p.kafkaOpts(), names.Features,
		schemas.FeatureLevel, func(ctx context.Context) error { return command.SetFeatureLevel(ctx, pg, names, schemas.FeatureLevel) })
	if err != nil {
		p.log.Warn("dev: cluster feature level not raised to this build's; logout answers 503 until `happychat features --set` raises it",
			"level", level, "build", schemas.FeatureLevel, "err", err)
		return
	}
	p.log.Info("dev: cluster feature level raised to this build's", "from", level, "to", schemas.FeatureLevel)
}
