// Package chtest gives integration tests a ClickHouse database of their
// own: created fresh on a server, dropped when the test ends, and filled by
// migration scripts. Test support only; it imports no role package.
package chtest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"happychat/internal/testenv"
)

// Database creates a database named prefix + random hex on the server of
// opts.Addr (usually [testenv.ClickHouseAddr]) and returns a connection to
// it, opened with opts, and its name; the connection is closed and the
// database dropped when the test ends. The caller's opts carry its tuning
// (timeouts, pool size); their Auth.Database is ignored. A server that does
// not answer a ping is [testenv.Unreachable]: the test fails when CI is set
// and skips otherwise.
func Database(t testing.TB, opts clickhouse.Options, prefix string) (driver.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := strings.Join(opts.Addr, ",")
	adminOpts := opts
	adminOpts.Auth.Database = "default"
	admin, err := clickhouse.Open(&adminOpts)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		if admin != nil {
			_ = admin.Close()
		}
		testenv.Unreachable(t, "ClickHouse", addr, err)
	}
	name := testenv.RandomName(prefix)
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		_ = admin.Close()
		t.Fatalf("ClickHouse: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("ClickHouse: drop database %s: %v", name, err)
		}
		_ = admin.Close()
	})
	opts.Auth.Database = name
	conn, err := clickhouse.Open(&opts)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the drop, so it runs before it: the connection goes
	// first.
	t.Cleanup(func() { _ = conn.Close() })
	return conn, name
}

// ExecScript runs the statements of script (a migration file, named name
// in messages) one at a time, in order: the native protocol takes one
// statement a request. See [Statements].
func ExecScript(t testing.TB, conn driver.Conn, name, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, stmt := range Statements(script) {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("ClickHouse script %s: %v\n%s", name, err, stmt)
		}
	}
}

// Statements splits a migration script into its statements, dropping --
// comments (which may hold a semicolon) and empty statements. It does not
// parse SQL: a "--" or ";" inside a string literal would be cut, which the
// migrations avoid.
func Statements(sql string) []string {
	var b strings.Builder
	for line := range strings.SplitSeq(sql, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var out []string
	for stmt := range strings.SplitSeq(b.String(), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
