package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/command"
	"happychat/internal/fleet"
	"happychat/schemas"
)

// runFeatures shows the cluster's feature level and every live instance of
// every role with the level its build understands, and sets it with --set
// once every instance runs a build that understands it (docs/command.md,
// "Rolling upgrades"). Command instances advertise in PostgreSQL; the
// projectors and the realtime instances on the features topic, where --set
// also publishes the level for them (internal/fleet).
func runFeatures(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	set := fs.Int("set", 0, "set the cluster's feature level (refused while a live instance of any role runs a build below it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.ensureTopics(ctx); err != nil {
		return err
	}
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("PG_URL: %w", err)
	}
	defer pg.Close()
	names := p.cfg.Names()
	opts := p.kafkaOpts()
	if *set != 0 {
		err := fleet.SetLevel(ctx, opts, names.Features, *set, func(ctx context.Context) error {
			return command.SetFeatureLevel(ctx, pg, names, *set)
		})
		if err != nil {
			return err
		}
	}
	level, live, err := command.FeatureLevels(ctx, pg, names)
	if err != nil {
		return err
	}
	st, err := fleet.Read(ctx, opts, names.Features)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "cluster feature level: %d (this build understands up to %d)\n", level, schemas.FeatureLevel)
	if st.Level != level {
		fmt.Fprintf(env.Stdout, "warning: the features topic says %d: run --set %d again\n", st.Level, level)
	}
	for _, in := range live {
		fmt.Fprintf(env.Stdout, "command instance %d: understands up to %d\n", in.InstanceID, in.Level)
	}
	now := time.Now()
	for _, m := range st.Members {
		fmt.Fprintf(env.Stdout, "%s instance %s: understands up to %d (heartbeat expires in %s)\n",
			m.Role, m.Instance, m.Level, m.Expires.Sub(now).Round(time.Second))
	}
	return nil
}
