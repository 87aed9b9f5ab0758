package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/bwmarrin/snowflake"
	"github.com/jackc/pgx/v5"

	"happychat/internal/chtest"
	"happychat/schemas"
)

// generate creates the benchmark database and schema and fills them.
func generate(ctx context.Context, o options, admin driver.Conn, pg *pgx.Conn) error {
	t0 := time.Now()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return err
	}
	ch, err := openData(o)
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

// openData connects to the benchmark database for bulk work: generating and
// copying 10 M rows takes minutes per statement.
func openData(o options) (driver.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{Addr: []string{o.chAddr}, Auth: clickhouse.Auth{Database: name},
		Settings: clickhouse.Settings{"max_execution_time": 3600}, ReadTimeout: time.Hour})
}
