// Command querybench measures the query service on a generated history: the
// latency of 50-message pages at the newest end, the middle and the oldest
// end of a big room, and the rate and memory of exporting that room. It is a
// benchmark, not a test; its results are in docs/benchmarks.md ("Query").
//
//	go run ./query/querybench                 # generate (once) and measure
//	go run ./query/querybench -messages 1000000 -big 200000   # smaller
//
// Data: ClickHouse database and PostgreSQL schema "bench_query" (kept for
// reruns; -regenerate rebuilds them, -drop removes them). The rows are what
// the projectors write, generated inside ClickHouse with INSERT … SELECT.
// The service runs in a child process (this binary, "serve" mode) so that
// its memory is measured alone.
//
// Files: main.go (flags and the run), generate.go (the data), serve.go (the
// service under test, in the child), measure.go (the measurements).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"happychat/internal/testenv"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/jackc/pgx/v5"
)

// name is both the ClickHouse database and the PostgreSQL schema of the data.
const name = "bench_query"

type options struct {
	pgURL, chAddr       string
	rooms               int
	messages, big       int64
	pages               int
	regenerate, dropAll bool
	reindex             bool
	repoRoot            string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "querybench serve:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.pgURL, "pg", testenv.PGURL(), "PostgreSQL URL")
	flag.StringVar(&o.chAddr, "ch", testenv.ClickHouseAddr(), "ClickHouse native address")
	flag.IntVar(&o.rooms, "rooms", 1000, "rooms")
	flag.Int64Var(&o.messages, "messages", 10_000_000, "messages in all rooms")
	flag.Int64Var(&o.big, "big", 2_000_000, "messages in the big room")
	flag.IntVar(&o.pages, "pages", 1000, "page requests per position")
	flag.BoolVar(&o.regenerate, "regenerate", false, "drop and regenerate the data")
	flag.BoolVar(&o.dropAll, "drop", false, "drop the benchmark data and exit")
	flag.BoolVar(&o.reindex, "reindex", false, "rebuild only the PostgreSQL message index")
	flag.StringVar(&o.repoRoot, "repo", ".", "repository root (for projector/migrations)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "querybench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(o options) error {
	ctx := context.Background()
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{o.chAddr}, Auth: clickhouse.Auth{Database: "default"},
		Settings: clickhouse.Settings{"max_execution_time": 3600}})
	if err != nil {
		return err
	}
	defer ch.Close()
	pg, err := pgx.Connect(ctx, o.pgURL)
	if err != nil {
		return err
	}
	defer pg.Close(ctx)
	if o.dropAll || o.regenerate {
		if err := ch.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			return err
		}
		if _, err := pg.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE"); err != nil {
			return err
		}
		if o.dropAll {
			logf("dropped %s", name)
			return nil
		}
	}
	var have uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'messages'", name).Scan(&have); err != nil {
		return err
	}
	if have == 0 {
		if err := generate(ctx, o, ch, pg); err != nil {
			return err
		}
	} else {
		logf("reusing the data in %s (-regenerate to rebuild)", name)
	}
	if o.reindex {
		data, err := openData(o)
		if err != nil {
			return err
		}
		defer data.Close()
		if _, err := pg.Exec(ctx, "TRUNCATE "+name+".room_messages"); err != nil {
			return err
		}
		if err := copyRoomMessages(ctx, data, pg); err != nil {
			return err
		}
	}
	return measure(ctx, o, ch)
}
