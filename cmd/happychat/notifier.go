package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/cmd/internal/httpserver"
	"happychat/projector/notifier"
)

// runNotifier runs the Web Push notifier alone: it consumes the rooms
// topic at KAFKA_BROKERS in its own group and pushes to the members'
// browsers, keeping subscriptions, mutes and watermarks in PG_URL. It
// serves its routes (/v1/push/…, /v1/rooms/{id}/mute), /healthz and
// /readyz on CHAT_HTTP_ADDR, and those with /metrics and pprof on
// CHAT_INTERNAL_ADDR. The VAPID keys must be configured (CHAT_VAPID_*):
// instances must share them, and browsers' subscriptions are bound to them.
func runNotifier(ctx context.Context, env Env, _ []string) error {
	p, err := newBrokerProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.requireSecret(); err != nil {
		return err
	}
	if p.cfg.Push.VAPIDPublicKey == "" || p.cfg.Push.VAPIDPrivateKey == "" {
		return errors.New("CHAT_VAPID_PUBLIC_KEY and CHAT_VAPID_PRIVATE_KEY must be set (generate a pair once, e.g. with `happychat dev`'s .state/dev-vapid-keys, and give every instance the same)")
	}
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("PG_URL: %w", err)
	}
	defer pg.Close()
	svc, err := p.notifierService(pg)
	if err != nil {
		return err
	}
	checks := []httpserver.Check{
		{Name: "postgres", Ping: pg.Ping},
		{Name: "notifier", Ping: svc.Ready},
		{Name: "revocations", Ping: p.revocations().Ready},
	}
	engine := httpserver.NewEngine(checks, p.log)
	svc.Register(engine)
	return p.serveWith(ctx, env, engine, httpserver.NewInternalEngine(p.reg, checks, p.log), func(ctx context.Context, _ listeners) error {
		errc := make(chan error, 1)
		go func() { errc <- p.tailRevocations(ctx) }()
		err := svc.Run(ctx)
		return errors.Join(err, <-errc)
	})
}

// notifierService builds the notifier from the configuration.
func (p *process) notifierService(pg *pgxpool.Pool) (*notifier.Service, error) {
	keys, err := p.tokenKeys()
	if err != nil {
		return nil, err
	}
	rules, err := p.rules()
	if err != nil {
		return nil, err
	}
	c := p.cfg.Push
	return notifier.New(notifier.Config{
		PG: pg, Kafka: p.kafkaOpts(), Names: p.cfg.Names(), Keys: keys, Rules: rules,
		Log: p.log.With("service", "notifier"), Metrics: p.reg,
		VAPIDPublicKey: c.VAPIDPublicKey, VAPIDPrivateKey: c.VAPIDPrivateKey, VAPIDSubject: c.VAPIDSubject,
		Window: c.Window, MaxAge: c.MaxAge, TTL: c.TTL, MaxSubscriptions: c.MaxSubscriptions, AllowLoopback: c.AllowLoopback,
		Addresses: p.cfg.Limits.Addresses(), PerAddress: p.cfg.Limits.PerAddress, PerUser: p.cfg.Limits.PushSettings,
	})
}

// devVAPIDKeys uses the configured VAPID keys, or a pair generated once and
// kept under the state directory (dev-vapid-keys: the public key, then the
// private one), so that browsers' subscriptions survive dev restarts.
func (p *process) devVAPIDKeys() error {
	if p.cfg.Push.VAPIDPublicKey != "" || p.cfg.Push.VAPIDPrivateKey != "" {
		return nil
	}
	path := filepath.Join(p.cfg.StateDir, "dev-vapid-keys")
	//nolint:gosec // G304: a file of the operator's own state directory, in dev only
	if b, err := os.ReadFile(path); err == nil {
		if pub, priv, ok := strings.Cut(strings.TrimSpace(string(b)), "\n"); ok {
			p.cfg.Push.VAPIDPublicKey, p.cfg.Push.VAPIDPrivateKey = strings.TrimSpace(pub), strings.TrimSpace(priv)
			return nil
		}
	}
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return fmt.Errorf("generate VAPID keys: %w", err)
	}
	p.cfg.Push.VAPIDPublicKey, p.cfg.Push.VAPIDPrivateKey = pub, priv
	if err := os.MkdirAll(p.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return os.WriteFile(path, []byte(pub+"\n"+priv+"\n"), 0o600)
}
