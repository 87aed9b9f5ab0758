package main

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"

	"happychat/cmd/internal/config"
)

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// requireStores skips (or, under CI, fails) when PostgreSQL or ClickHouse
// is not reachable.
func requireStores(t *testing.T) {
	t.Helper()
	for name, addr := range map[string]string{
		"PostgreSQL": hostOf(envOr("PG_URL", config.DefaultPGURL)),
		"ClickHouse": envOr("CLICKHOUSE_ADDR", config.DefaultClickHouseAddr),
	} {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s at %s is not reachable: %v", name, addr, err)
			}
			t.Skipf("%s at %s is not reachable: %v", name, addr, err)
		}
		c.Close()
	}
}

// freshStores creates a PostgreSQL database and a ClickHouse database for
// one test, dropped at its end, and returns the environment that points the
// binary at them.
func freshStores(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "test_" + randHex(6)
	base := envOr("PG_URL", config.DefaultPGURL)
	pg, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer pg.Close(ctx)
	if _, err := pg.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	chAddr := envOr("CLICKHOUSE_ADDR", config.DefaultClickHouseAddr)
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}})
	if err != nil {
		t.Fatalf("ClickHouse: %v", err)
	}
	defer ch.Close()
	if err := ch.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("ClickHouse create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if pg, err := pgx.Connect(ctx, base); err == nil {
			_, _ = pg.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			pg.Close(ctx)
		}
		if ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}}); err == nil {
			_ = ch.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
			ch.Close()
		}
	})
	return []string{"PG_URL=" + u.String(), "CLICKHOUSE_ADDR=" + chAddr, "CLICKHOUSE_DB=" + name}
}
