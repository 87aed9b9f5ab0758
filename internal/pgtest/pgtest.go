// Package pgtest gives integration tests a PostgreSQL database of their
// own: created fresh on the server of a base URL, dropped when the test
// ends. Test support only; it imports no role package.
package pgtest

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/testenv"
)

// Database creates a database named prefix + random hex on the server of
// base (usually [testenv.PGURL]), and returns a pool on it and its URL; the
// pool is closed and the database dropped when the test ends. An unreachable
// server is [testenv.Unreachable]: the test fails when CI is set and skips
// otherwise.
//
// Where the role may not create databases (a managed server), it creates a
// schema of that name in base's database instead, and the pool and the URL
// set search_path to it, so that migrations create their tables there.
func Database(t testing.TB, base, prefix string) (*pgxpool.Pool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		testenv.Unreachable(t, "PostgreSQL", redact(base), err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	name := testenv.RandomName(prefix)
	drop := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		u.Path = "/" + name
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
			t.Fatalf("create schema %s: %v", name, err)
		}
		// pgx passes URL parameters it does not know to the server as
		// run-time parameters.
		q := u.Query()
		q.Set("search_path", name)
		u.RawQuery = q.Encode()
		drop = "DROP SCHEMA IF EXISTS " + name + " CASCADE"
	default:
		t.Fatalf("create database %s: %v", name, err)
	}
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("%s: %v", drop, err)
			return
		}
		defer func() { _ = admin.Close(context.Background()) }()
		if _, err := admin.Exec(ctx, drop); err != nil {
			t.Logf("%s: %v", drop, err)
		}
	})
	return pool, u.String()
}

// redact hides the password of a URL for messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}
