package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/command"
	"happychat/schemas"
)

// runFeatures shows the cluster's feature level and the live command
// instances with the level their build understands, and raises it with
// --set once every instance runs a build that understands it
// (docs/command.md, "Rolling upgrades").
func runFeatures(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("features", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	set := fs.Int("set", 0, "set the cluster's feature level (refused while a live command instance's build is below it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	pg, err := pgxpool.New(ctx, p.cfg.PGURL)
	if err != nil {
		return fmt.Errorf("PG_URL: %w", err)
	}
	defer pg.Close()
	names := p.cfg.Names()
	if *set != 0 {
		if err := command.SetFeatureLevel(ctx, pg, names, *set); err != nil {
			return err
		}
	}
	level, live, err := command.FeatureLevels(ctx, pg, names)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "cluster feature level: %d (this build understands up to %d)\n", level, schemas.FeatureLevel)
	for _, in := range live {
		fmt.Fprintf(env.Stdout, "command instance %d: understands up to %d\n", in.InstanceID, in.Level)
	}
	return nil
}
