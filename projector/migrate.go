package projector

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The DDL of both stores, versioned: NNNN_name.sql, applied in order, each
// once. Files are never edited once released; a change is a new file.
//
//go:embed migrations/postgres/*.sql migrations/clickhouse/*.sql
var migrationFiles embed.FS

// migration is one versioned DDL file.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(dir string) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// Migrate applies the pending migrations of PostgreSQL and of ClickHouse
// (either may be nil). It is safe to run from several processes at once: the
// PostgreSQL side serialises on an advisory lock, the ClickHouse side only
// runs statements that tolerate being repeated.
func Migrate(ctx context.Context, pg *pgxpool.Pool, ch driver.Conn, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if pg != nil {
		if err := migratePostgres(ctx, pg, log); err != nil {
			return fmt.Errorf("migrate postgres: %w", err)
		}
	}
	if ch != nil {
		if err := migrateClickHouse(ctx, ch, log); err != nil {
			return fmt.Errorf("migrate clickhouse: %w", err)
		}
	}
	return nil
}

// migrationLockKey is the advisory lock id of schema changes (an arbitrary
// constant: "hcmig").
const migrationLockKey = 0x68636d6967

const pgMigrationsTable = `CREATE TABLE IF NOT EXISTS projector_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

func migratePostgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	ms, err := loadMigrations("migrations/postgres")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey)); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.Exec(ctx, pgMigrationsTable); err != nil {
			return fmt.Errorf("create projector_migrations: %w", err)
		}
		applied := map[int]bool{}
		rows, err := tx.Query(ctx, "SELECT version FROM projector_migrations")
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		for _, v := range versions {
			applied[int(v)] = true
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO projector_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return err
			}
			log.Info("postgres migration applied", "migration", m.name)
		}
		return nil
	})
}

// createPostgresViews runs every view migration in schema (a fresh one):
// the replay builds its new tables exactly as the live ones were built.
func createPostgresViews(ctx context.Context, tx pgx.Tx, schema string) error {
	ms, err := loadMigrations("migrations/postgres")
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	for _, m := range ms {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("%s in schema %s: %w", m.name, schema, err)
		}
	}
	_, err = tx.Exec(ctx, "SET LOCAL search_path TO DEFAULT")
	return err
}

const chMigrationsTable = `CREATE TABLE IF NOT EXISTS projector_migrations (
    version    UInt32,
    name       String,
    applied_at DateTime
) ENGINE = MergeTree() ORDER BY version`

func migrateClickHouse(ctx context.Context, conn driver.Conn, log *slog.Logger) error {
	ms, err := loadMigrations("migrations/clickhouse")
	if err != nil {
		return err
	}
	if err := conn.Exec(ctx, chMigrationsTable); err != nil {
		return fmt.Errorf("create projector_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM projector_migrations")
	if err != nil {
		return err
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[int(v)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		for _, stmt := range splitStatements(m.sql) {
			if err := conn.Exec(ctx, stmt); err != nil && !columnExists(err) {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
		if err := chInsertRow(ctx, conn, "INSERT INTO projector_migrations (version, name, applied_at)",
			uint32(m.version), m.name, time.Now()); err != nil {
			return err
		}
		log.Info("clickhouse migration applied", "migration", m.name)
	}
	return nil
}

// columnExists reports ClickHouse's "column with this name already exists"
// (code 44): ADD COLUMN has no IF NOT EXISTS in 18.16, and a migration that
// crashed after its ALTER but before being recorded is re-run.
func columnExists(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 44 && strings.Contains(ex.Message, "already exists")
}

// splitStatements cuts a DDL file into statements for a driver that runs
// one at a time: "--" comments are dropped and statements end with ";" at
// the end of a line. (Semicolons inside string literals at a line end are not
// supported; the DDL files do not have any.)
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(sql) {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimRight(line, " \t\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(line, ";") {
			if s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"); strings.TrimSpace(s) != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}
