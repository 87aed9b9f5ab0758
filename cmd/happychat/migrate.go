package main

import (
	"context"
	"fmt"

	"happychat/projector"
)

// runMigrate applies the pending PostgreSQL (PG_URL) and ClickHouse
// (CLICKHOUSE_ADDR, CLICKHOUSE_DB) migrations and exits. The projectors also
// apply them at start; this is for deployments that migrate first.
func runMigrate(ctx context.Context, env Env, _ []string) error {
	p, err := newProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	pg, ch, err := p.openProjectorStores(ctx)
	if err != nil {
		return err
	}
	if err := projector.Migrate(ctx, pg, ch, p.log); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "migrations applied: PostgreSQL and ClickHouse are up to date")
	return nil
}
