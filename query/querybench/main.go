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
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/bwmarrin/snowflake"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/chtest"
	"happychat/internal/testenv"
	"happychat/query"
	"happychat/schemas"
	"happychat/schemas/token"
)

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
		data, err := clickhouse.Open(&clickhouse.Options{Addr: []string{o.chAddr}, Auth: clickhouse.Auth{Database: name},
			Settings: clickhouse.Settings{"max_execution_time": 3600}, ReadTimeout: time.Hour})
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

// --- data ------------------------------------------------------------------

func generate(ctx context.Context, o options, admin driver.Conn, pg *pgx.Conn) error {
	t0 := time.Now()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{o.chAddr}, Auth: clickhouse.Auth{Database: name},
		Settings: clickhouse.Settings{"max_execution_time": 3600}, ReadTimeout: time.Hour})
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := migrate(ctx, o, ch, pg); err != nil {
		return err
	}
	// One year of history ending an hour ago; the big room's 2 M messages are
	// 15.8 s apart, the small rooms' about 8,000 each an hour apart.
	end := time.Now().Add(-time.Hour).UnixMilli()
	const year = 365 * 24 * 3600 * 1000
	start := end - year
	roomBase := int64(schemas.IDAt(time.UnixMilli(start).Add(-24 * time.Hour)))
	small := int64(o.rooms - 1)
	rest := o.messages - o.big
	cols := `room_id, id, seq, user_id, nickname, text, body, effects, client_msg_id, sent_ms, sent_at, rules_version, partition, offset`
	// id = ms << 22 | node << 12 | step, node = room index, step = i % 4096.
	gen := func(roomExpr, iExpr, perRoomExpr, nodeExpr string, count int64) string {
		return fmt.Sprintf(`INSERT INTO messages (%[1]s)
			SELECT room_id, bitOr(bitShiftLeft(toUInt64(t - %[2]d), 22), bitOr(bitShiftLeft(toUInt64(node), 12), toUInt64(i %% 4096))),
				i + 2, 7000000000000000000 + (i * 7 + room_id) %% 5000, concat('user', toString((i * 7 + room_id) %% 5000)),
				msg, msg, if(i %% 50 = 0, ['balloons'], emptyArrayString()), concat('c-', toString(room_id), '-', toString(i)),
				t, toDateTime(intDiv(t, 1000)), 'bench', toUInt32(room_id %% 12), i
			FROM (SELECT %[3]s AS room_id, %[4]s AS i, %[6]s AS node,
				toInt64(%[7]d + intDiv(i * %[8]d, %[5]s)) AS t,
				concat('message ', toString(i), ' about cats 🐱 and 東京 ', substring('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor', 1, (i * 13) %% 80)) AS msg
				FROM system.numbers LIMIT %[9]d)`,
			cols, snowflake.Epoch, roomExpr, iExpr, perRoomExpr, nodeExpr, start, year, count)
	}
	logf("generating %d messages in the big room", o.big)
	if err := ch.Exec(ctx, gen(strconv.FormatInt(roomBase, 10), "number", strconv.FormatInt(o.big, 10), "0", o.big)); err != nil {
		return fmt.Errorf("generate big room: %w", err)
	}
	logf("generating %d messages in %d other rooms", rest, small)
	perRoom := fmt.Sprintf("toInt64(%d)", (rest+small-1)/small)
	if err := ch.Exec(ctx, gen(fmt.Sprintf("toInt64(%d + 1 + number %% %d)", roomBase, small), fmt.Sprintf("intDiv(number, %d)", small),
		perRoom, fmt.Sprintf("(1 + number %% %d) %% 1024", small), rest)); err != nil {
		return fmt.Errorf("generate rooms: %w", err)
	}
	logf("generating room_events")
	if err := ch.Exec(ctx, `INSERT INTO room_events (room_id, seq, id, type, user_id, occurred_ms, occurred_at, partition, offset)
		SELECT room_id, seq, id, 'message.sent', user_id, sent_ms, sent_at, partition, offset FROM messages`); err != nil {
		return fmt.Errorf("generate room_events: %w", err)
	}
	logf("writing the rooms view")
	rows, err := ch.Query(ctx, `SELECT room_id, count(), min(sent_ms), max(sent_ms), max(id), max(seq) FROM messages GROUP BY room_id`)
	if err != nil {
		return err
	}
	var copyRows [][]any
	for rows.Next() {
		var room, n, lastID, lastSeq uint64
		var first, last int64
		if err := rows.Scan(&room, &n, &first, &last, &lastID, &lastSeq); err != nil {
			return err
		}
		copyRows = append(copyRows, []any{int64(room), "room " + strconv.FormatUint(room, 10), "", "open",
			time.UnixMilli(first).Add(-time.Hour), int32(n % 20), int64(n), time.UnixMilli(last), int64(lastID), int64(lastSeq)})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if _, err := pg.CopyFrom(ctx, pgx.Identifier{name, "rooms"},
		[]string{"room_id", "title", "description", "status", "created_at", "member_count", "message_count", "last_message_at", "last_message_id", "last_seq"},
		pgx.CopyFromRows(copyRows)); err != nil {
		return err
	}
	if err := copyRoomMessages(ctx, ch, pg); err != nil {
		return err
	}
	logf("generated in %s", time.Since(t0).Round(time.Second))
	return nil
}

// copyRoomMessages fills the PostgreSQL room_messages index (the ids and
// their ordinals) from the history, streaming: a cursor on one side, COPY on
// the other.
func copyRoomMessages(ctx context.Context, ch driver.Conn, pg *pgx.Conn) error {
	logf("copying the message index to PostgreSQL")
	rows, err := ch.Query(ctx, `SELECT room_id, id, seq FROM messages ORDER BY room_id, id`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	src := &indexSource{rows: rows}
	n, err := pg.CopyFrom(ctx, pgx.Identifier{name, "room_messages"}, []string{"room_id", "message_id", "seq", "ordinal"}, src)
	if err != nil {
		return err
	}
	logf("copied %d ids", n)
	return rows.Err()
}

type indexSource struct {
	rows    driver.Rows
	room    uint64
	ordinal int64
	vals    []any
	err     error
}

func (s *indexSource) Next() bool {
	if !s.rows.Next() {
		return false
	}
	var room, id, seq uint64
	if s.err = s.rows.Scan(&room, &id, &seq); s.err != nil {
		return false
	}
	if room != s.room {
		s.room, s.ordinal = room, 0
	}
	s.ordinal++
	s.vals = []any{int64(room), int64(id), int64(seq), s.ordinal}
	return true
}

func (s *indexSource) Values() ([]any, error) { return s.vals, nil }
func (s *indexSource) Err() error             { return s.err }

func migrate(ctx context.Context, o options, ch driver.Conn, pg *pgx.Conn) error {
	if _, err := pg.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		return err
	}
	if _, err := pg.Exec(ctx, "SET search_path = "+name); err != nil {
		return err
	}
	for _, store := range []string{"postgres", "clickhouse"} {
		files, _ := filepath.Glob(filepath.Join(o.repoRoot, "projector", "migrations", store, "*.sql"))
		if len(files) == 0 {
			return fmt.Errorf("no %s migrations under %s (use -repo)", store, o.repoRoot)
		}
		slices.Sort(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			if store == "postgres" {
				if _, err := pg.Exec(ctx, string(b)); err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				continue
			}
			for _, stmt := range chtest.Statements(string(b)) {
				if err := ch.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
			}
		}
	}
	_, err := pg.Exec(ctx, "SET search_path = DEFAULT")
	return err
}

// --- the service under test --------------------------------------------------

// serve runs the query service alone on 127.0.0.1:0 and prints its address.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	pgURL := fs.String("pg", "", "PostgreSQL URL")
	chAddr := fs.String("ch", "", "ClickHouse address")
	_ = fs.Parse(args)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(*pgURL)
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	pg, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	ch, err := clickhouse.Open(&clickhouse.Options{Addr: []string{*chAddr}, Auth: clickhouse.Auth{Database: name}, MaxOpenConns: 32})
	if err != nil {
		return err
	}
	keys, err := token.New("querybench-secret-0123456789", time.Hour)
	if err != nil {
		return err
	}
	svc, err := query.New(query.Config{PG: pg, CH: ch, Keys: keys, Capacity: 20,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	svc.Register(r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, r)
}

// --- measurements ------------------------------------------------------------

func measure(ctx context.Context, o options, admin driver.Conn) error {
	var big uint64
	var bigCount uint64
	if err := admin.QueryRow(ctx, "SELECT room_id, count() AS n FROM "+name+".messages GROUP BY room_id ORDER BY n DESC LIMIT 1").Scan(&big, &bigCount); err != nil {
		return err
	}
	var total uint64
	if err := admin.QueryRow(ctx, "SELECT count() FROM "+name+".messages").Scan(&total); err != nil {
		return err
	}
	// Cursors at the middle and the oldest end of the big room.
	var mid, oldest51 uint64
	if err := admin.QueryRow(ctx, "SELECT id FROM "+name+".messages WHERE room_id = ? ORDER BY id LIMIT ?, 1", big, bigCount/2).Scan(&mid); err != nil {
		return err
	}
	if err := admin.QueryRow(ctx, "SELECT id FROM "+name+".messages WHERE room_id = ? ORDER BY id LIMIT 50, 1", big).Scan(&oldest51); err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "serve", "-pg", o.pgURL, "-ch", o.chAddr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("server did not start: %w", err)
	}
	baseURL := "http://" + strings.TrimSpace(addr)
	pid := cmd.Process.Pid
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	room := strconv.FormatUint(big, 10)

	get := func(path string) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(baseURL + path)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		return time.Since(start), err
	}
	// Warm up: caches, connections, the Go heap.
	for range 200 {
		if _, err := get("/v1/rooms/" + room + "/messages?limit=50"); err != nil {
			return err
		}
	}
	restRSS := rss(pid, "VmRSS")

	fmt.Printf("\nHistory: %d messages in %d rooms; the big room %s holds %d. GOMAXPROCS %d, %d CPUs.\n\n",
		total, o.rooms, room, bigCount, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Println("| 50-message page of the big room | p50 | p99 | max |")
	fmt.Println("|---|---|---|---|")
	positions := []struct{ label, query string }{
		{"newest end (no cursor)", ""},
		{"middle (before = the 1,000,000th id)", "&before=" + strconv.FormatUint(mid, 10)},
		{"oldest end (before = the 51st id)", "&before=" + strconv.FormatUint(oldest51, 10)},
		{"oldest end, forward (after = 1)", "&after=1"},
		{"middle, forward (after = the middle id)", "&after=" + strconv.FormatUint(mid, 10)},
	}
	// Round robin over the positions, so that each sees the same machine
	// (this one is shared: a burst of other work would otherwise land on
	// one position only).
	lat := make([][]time.Duration, len(positions))
	for range o.pages {
		for i, p := range positions {
			d, err := get("/v1/rooms/" + room + "/messages?limit=50" + p.query)
			if err != nil {
				return err
			}
			lat[i] = append(lat[i], d)
		}
	}
	for i, p := range positions {
		l := lat[i]
		slices.Sort(l)
		fmt.Printf("| %s | %s | %s | %s |\n", p.label, ms(l[len(l)/2]), ms(l[len(l)*99/100]), ms(l[len(l)-1]))
	}
	fmt.Println("\n| analytics (median of 3) | time |\n|---|---|")
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(-d).Format(time.RFC3339) }
	const day = 24 * time.Hour
	analytics := []struct{ label, path string }{
		{"activity, all rooms, by day over 1,095 days", "/v1/analytics/activity?bucket=day&from=" + at(1095*day)},
		{"activity, all rooms, by hour over 91 days", "/v1/analytics/activity?bucket=hour&from=" + at(91*day)},
		{"activity, all rooms, by minute over 23 h", "/v1/analytics/activity?bucket=minute&from=" + at(23*time.Hour)},
		{"activity, the big room, by hour over 91 days", "/v1/analytics/activity?bucket=hour&room=" + room + "&from=" + at(91*day)},
		{"top senders, all rooms, 30 days", "/v1/analytics/top-senders"},
		{"top senders, all rooms, 1 year", "/v1/analytics/top-senders?from=" + at(366*day)},
		{"top senders, the big room, 1 year", "/v1/analytics/top-senders?room=" + room + "&from=" + at(366*day)},
	}
	for _, a := range analytics {
		var ds []time.Duration
		for range 3 {
			d, err := get(a.path)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		fmt.Printf("| %s | %s |\n", a.label, ms(ds[1]))
	}

	// Export: reset the peak RSS, stream the whole room, read the peak.
	time.Sleep(2 * time.Second)
	restRSS = rss(pid, "VmRSS")
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		logf("cannot reset the peak RSS (%v); sampling only", err)
	}
	sampled := restRSS
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sampled = max(sampled, rss(pid, "VmRSS"))
			}
		}
	}()
	start := time.Now()
	resp, err := client.Get(baseURL + "/v1/rooms/" + room + "/messages/export")
	if err != nil {
		return err
	}
	lines, bytesRead, err := countLines(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	close(done)
	if err != nil {
		return err
	}
	if lines != int64(bigCount) {
		return fmt.Errorf("export returned %d lines, the room holds %d", lines, bigCount)
	}
	peak := max(rss(pid, "VmHWM"), sampled)
	fmt.Printf("\n| export of the big room | value |\n|---|---|\n")
	fmt.Printf("| messages | %d (%.0f MiB of NDJSON) |\n", lines, float64(bytesRead)/(1<<20))
	fmt.Printf("| time | %s |\n", elapsed.Round(time.Millisecond))
	fmt.Printf("| rate | %.0f messages/s |\n", float64(lines)/elapsed.Seconds())
	fmt.Printf("| RSS at rest | %.1f MiB |\n", float64(restRSS)/(1<<20))
	fmt.Printf("| peak RSS while exporting | %.1f MiB |\n", float64(peak)/(1<<20))
	fmt.Printf("| peak growth | %.1f MiB |\n", float64(peak-restRSS)/(1<<20))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func countLines(r io.Reader) (lines, n int64, err error) {
	buf := make([]byte, 256<<10)
	for {
		k, err := r.Read(buf)
		n += int64(k)
		lines += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return lines, n, nil
		}
		if err != nil {
			return lines, n, err
		}
	}
}

// rss reads a memory field of /proc/<pid>/status in bytes.
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
