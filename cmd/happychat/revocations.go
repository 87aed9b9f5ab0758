package main

import (
	"context"

	"happychat/internal/revoked"
)

// revocations is the process's set of revoked tokens, made on first use:
// every service of the process (all of them in dev) verifies tokens
// against this one set, fed by one tail of the users topic
// (tailRevocations), and checks it as "revocations" in /readyz.
func (p *process) revocations() *revoked.Set {
	if p.revoked == nil {
		p.revoked = revoked.NewSet(nil)
	}
	return p.revoked
}

// tailRevocations feeds the process's revocations from the users topic
// until ctx ends, starting a token lifetime (CHAT_TOKEN_TTL) back.
func (p *process) tailRevocations(ctx context.Context) error {
	return revoked.Tail(ctx, revoked.TailConfig{
		Kafka: p.kafkaOpts(),
		Topic: p.cfg.Names().Users, Window: p.cfg.TokenTTL, Set: p.revocations(),
		Log: p.log.With("component", "revoked"),
	})
}

// withRevocations runs work beside the revocations' tail: the first to
// stop stops the other, and work's error is returned.
func (p *process) withRevocations(ctx context.Context, work func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tail := make(chan error, 1)
	go func() {
		tail <- p.tailRevocations(ctx)
		cancel()
	}()
	err := work(ctx)
	cancel()
	if terr := <-tail; err == nil && terr != nil {
		err = terr
	}
	return err
}
