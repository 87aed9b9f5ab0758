package main

import (
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"happychat/internal/chtest"
	"happychat/internal/pgtest"
	"happychat/internal/testenv"
)

// requireStores skips (or, under CI, fails) when PostgreSQL or ClickHouse
// is not reachable.
func requireStores(t *testing.T) {
	t.Helper()
	testenv.Reach(t, "PostgreSQL", hostOf(testenv.PGURL()))
	testenv.Reach(t, "ClickHouse", testenv.ClickHouseAddr())
}

// freshStores creates a PostgreSQL database and a ClickHouse database for
// one test, dropped at its end, and returns the environment that points the
// binary at them.
func freshStores(t *testing.T) []string {
	t.Helper()
	_, pgURL := pgtest.Database(t, testenv.PGURL(), "test_")
	chAddr := testenv.ClickHouseAddr()
	_, chDB := chtest.Database(t, clickhouse.Options{Addr: []string{chAddr}}, "test_")
	return []string{"PG_URL=" + pgURL, "CLICKHOUSE_ADDR=" + chAddr, "CLICKHOUSE_DB=" + chDB}
}
