package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/cmd/internal/httpserver"
	"happychat/command"
	"happychat/internal/cmdproto"
	"happychat/schemas/moderation"
	"happychat/schemas/token"
)

// runCommand runs the command service alone: the write routes, forwarding
// between instances, and the owners of room partitions.
func runCommand(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.requireSecret(); err != nil {
		return err
	}
	if err := p.ensureTopics(ctx); err != nil {
		return err
	}
	pg, err := p.commandPool(ctx)
	if err != nil {
		return err
	}
	defer pg.Close()
	svc, err := p.commandService(pg, nil)
	if err != nil {
		return err
	}
	checks := []httpserver.Check{{Name: "command", Ping: svc.Ready}, {Name: "revocations", Ping: p.revocations().Ready}}
	public, internal := httpserver.NewEngine(checks, p.log), httpserver.NewInternalEngine(p.reg, checks, p.log)
	svc.Routes(public)
	svc.InternalRoutes(internal)
	return p.serveWith(ctx, env, public, internal, func(ctx context.Context, addrs listeners) error {
		return p.withRevocations(ctx, func(ctx context.Context) error { return svc.Run(ctx, p.advertise(addrs.internal)) })
	})
}

// commandService builds the command service from the configuration, with
// pg holding its snapshots, evicted sends and node id leases; local, in the
// all-in-one mode only (nil otherwise), wires its owners to the realtime
// service of the same process.
func (p *process) commandService(pg *pgxpool.Pool, local *localDelivery) (*command.Service, error) {
	keys, err := p.tokenKeys()
	if err != nil {
		return nil, err
	}
	rules, err := p.rules()
	if err != nil {
		return nil, err
	}
	// Tokens issued and checked for expiry by this instance follow its
	// clock too: every decision of the write side sees one time.
	clock := skewedClock(p.cfg.ClockOffset)
	if clock != nil {
		keys = keys.WithClock(clock)
	}
	return command.New(command.Config{
		Brokers: p.brokers, Names: p.cfg.Names(), InstanceID: p.cfg.InstanceID,
		InternalSecret: cmdproto.Secret(p.cfg.TokenSecret), PresenceSecret: cmdproto.PresenceSecret(p.cfg.TokenSecret),
		PreviousInternalSecrets: derived(cmdproto.Secret, p.cfg.PrevSecrets),
		PreviousPresenceSecrets: derived(cmdproto.PresenceSecret, p.cfg.PrevSecrets),
		Keys:                    keys, AdminToken: p.cfg.AdminToken,
		Capacity: p.cfg.Capacity, Rules: rules,
		SendRate: p.cfg.SendRate, SendBurst: p.cfg.SendBurst, JoinRate: p.cfg.JoinRate, JoinBurst: p.cfg.JoinBurst,
		Limits: command.Limits{
			Addresses: p.cfg.Limits.Addresses(), PerAddress: p.cfg.Limits.PerAddress,
			Sessions: p.cfg.Limits.Sessions, SessionsPerMinute: p.cfg.Limits.SessionsPerMinute,
			Proposals: p.cfg.Limits.Proposals, Leaves: p.cfg.Limits.Leaves, ReadMarks: p.cfg.Limits.ReadMarks,
			RoomChurn: p.cfg.Limits.RoomChurn,
		},
		Store: pg, KeysStored: local.keysStored(), Committed: local.committed(), DedupeWindow: p.cfg.DedupeWindow, DedupeWindowEntries: p.cfg.DedupeEntries,
		DedupeWindowBytes: p.cfg.DedupeBytes, EditWindow: p.cfg.EditWindow,
		SnapshotRecords: p.cfg.SnapRecords, SnapshotInterval: p.cfg.SnapInterval,
		SessionTimeout: p.cfg.OwnerSession, WriteTimeout: p.cfg.OwnerWrite,
		Clock:     clock,
		WebAuthn:  command.WebAuthnConfig{RPID: p.cfg.WebAuthnRPID, Origins: p.cfg.WebAuthnOrigins},
		KafkaOpts: p.serviceKafkaOpts(), Log: p.log, Metrics: p.reg,
	})
}

// skewedClock is the command service's clock under CHAT_CLOCK_OFFSET, a
// test-only setting (the fault suite's clock-skew scenario): nil, so the
// service's default time.Now, unless an offset is set, so that production
// pays nothing for the seam.
func skewedClock(offset time.Duration) func() time.Time {
	if offset == 0 {
		return nil
	}
	return func() time.Time { return time.Now().Add(offset) }
}

// derived is derive applied to each of tokenSecrets: the internal secrets
// of the token secrets before a rotation, which the internal routes still
// accept so that instances on either side of a rolling rotation accept each
// other's requests.
func derived(derive func(tokenSecret string) string, tokenSecrets []string) []string {
	out := make([]string, len(tokenSecrets))
	for i, ts := range tokenSecrets {
		out[i] = derive(ts)
	}
	return out
}

// tokenKeys are the keys every service of the process verifies tokens
// with: they refuse revoked tokens, and answer 503 until the process's
// revocations are read (revocations, tailRevocations).
func (p *process) tokenKeys() (*token.Keys, error) {
	k, err := token.New(p.cfg.TokenSecret, p.cfg.TokenTTL, p.cfg.PrevSecrets...)
	if err != nil {
		return nil, err
	}
	return k.WithRevocations(p.revocations()), nil
}

func (p *process) rules() (*moderation.Rules, error) {
	r, err := moderation.New(p.cfg.ProfanityWords, p.cfg.EffectWords)
	if err != nil {
		return nil, fmt.Errorf("CHAT_PROFANITY_WORDS / CHAT_EFFECT_WORDS: %w", err)
	}
	return r, nil
}

// requireSecret refuses to run a split service without a configured token
// secret: instances must agree on it.
func (p *process) requireSecret() error {
	if len(p.cfg.TokenSecret) < 16 {
		return errors.New("CHAT_TOKEN_SECRET must be set (at least 16 bytes) when services run split")
	}
	return nil
}

// devSecret uses the configured token secret, or one generated once and kept
// under the state directory, so that tokens survive dev restarts.
func (p *process) devSecret() error {
	if p.cfg.TokenSecret != "" {
		return p.requireSecret()
	}
	path := filepath.Join(p.cfg.StateDir, "dev-token-secret")
	//nolint:gosec // G304: a file of the operator's own state directory, in dev only
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		p.cfg.TokenSecret = strings.TrimSpace(string(b))
		return nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	p.cfg.TokenSecret = hex.EncodeToString(buf)
	if err := os.MkdirAll(p.cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return os.WriteFile(path, []byte(p.cfg.TokenSecret+"\n"), 0o600)
}

// devAdminToken gives the all-in-one mode an admin when CHAT_ADMIN_TOKEN
// is unset: a generated token kept in the state directory
// (dev-admin-token), the same across restarts, which runDev prints at
// start so that the person running `make run` can open /admin. It reports
// whether the token is the generated one (an operator's own is never
// printed).
func (p *process) devAdminToken() (generated bool, err error) {
	if p.cfg.AdminToken != "" {
		return false, nil
	}
	path := filepath.Join(p.cfg.StateDir, "dev-admin-token")
	//nolint:gosec // G304: a file of the operator's own state directory, in dev only
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= token.MinAdminTokenLen {
		p.cfg.AdminToken = strings.TrimSpace(string(b))
		return true, nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return false, err
	}
	p.cfg.AdminToken = hex.EncodeToString(buf)
	if err := os.MkdirAll(p.cfg.StateDir, 0o700); err != nil {
		return false, fmt.Errorf("state dir: %w", err)
	}
	return true, os.WriteFile(path, []byte(p.cfg.AdminToken+"\n"), 0o600)
}

// advertise is the address other instances use to reach this one: its
// internal listener's, where they forward commands.
func (p *process) advertise(bound string) string {
	if p.cfg.AdvertiseAddr != "" {
		return p.cfg.AdvertiseAddr
	}
	return bound
}

// commandPool opens the command service's PostgreSQL pool. Every partition
// owner stores each batch's message keys there while the batch is
// appended, so the pool has a connection for each of them and some for
// the requests' lookups: pgxpool's default (4 on these machines) queued
// the owners behind each other, 20 ms a batch at 1,000 sends/s
// (docs/benchmarks.md, issue 16). A pool_max_conns in PG_URL wins.
func (p *process) commandPool(ctx context.Context) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(p.cfg.PGURL)
	if err != nil {
		return nil, fmt.Errorf("PG_URL: %w", err)
	}
	if !strings.Contains(p.cfg.PGURL, "pool_max_conns") {
		pc.MaxConns = max(pc.MaxConns, int32(p.cfg.RoomParts)+4)
	}
	pg, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("PG_URL: %w", err)
	}
	return pg, nil
}
