package query

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/chtest"
	"happychat/internal/pgtest"
	"happychat/internal/testenv"
	"happychat/query/openapi"
	"happychat/schemas"
	"happychat/schemas/token"
)

// The integration tests run against the real PostgreSQL and ClickHouse,
// each test in a fresh database of each (created here, dropped at the end),
// with the projector's migrations applied. Until the projector can feed them,
// the tests write the rows the projector would write (see fixture).

const (
	testSecret   = "query-test-secret-0123456789"
	testAdmin    = "query-test-admin-token-0123456789abcdef"
	testCapacity = 20
)

type testEnv struct {
	t    *testing.T
	pg   *pgxpool.Pool
	ch   driver.Conn
	svc  *Service
	srv  *httptest.Server
	keys *token.Keys
	doc  *openapi.Doc

	mu       sync.Mutex
	seqs     map[schemas.ID]int64 // next seq per room
	ordinals map[schemas.ID]int64
	step     int64
}

// newTestEnv gives the test its own PostgreSQL and ClickHouse databases and
// a query service serving them over HTTP.
func newTestEnv(t *testing.T, tune ...func(*Config)) *testEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs PostgreSQL and ClickHouse (run without -short)")
	}
	e := &testEnv{t: t, seqs: map[schemas.ID]int64{}, ordinals: map[schemas.ID]int64{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e.pg, _ = pgtest.Database(t, testenv.PGURL(), "test_query_")
	for _, f := range migrations(t, "postgres") {
		if _, err := e.pg.Exec(ctx, f.sql); err != nil {
			t.Fatalf("postgres migration %s: %v", f.name, err)
		}
	}
	e.ch, _ = chtest.Database(t, clickhouse.Options{Addr: []string{testenv.ClickHouseAddr()}, DialTimeout: 5 * time.Second}, "test_query_")
	for _, f := range migrations(t, "clickhouse") {
		chtest.ExecScript(t, e.ch, f.name, f.sql)
	}
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.keys = keys
	cfg := Config{
		PG: e.pg, CH: e.ch, Keys: keys, AdminToken: testAdmin, Capacity: testCapacity,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, f := range tune {
		f(&cfg)
	}
	if e.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if e.doc, err = openapi.Load(); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(testEngine(e.svc))
	t.Cleanup(e.srv.Close)
	return e
}

// testEngine serves the service's routes the way cmd does, and names the
// matched route in a header so that the client can check the response
// against the document.
func testEngine(s *Service) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ContextWithFallback = true
	r.Use(func(c *gin.Context) {
		c.Header("X-Test-Route", c.FullPath())
		c.Next()
	})
	s.Register(r)
	return r
}

type migration struct{ name, sql string }

// migrations reads the projector's migrations of store ("postgres" or
// "clickhouse") in the order they apply: the query service reads the tables
// the projector creates.
func migrations(t *testing.T, store string) []migration {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "projector", "migrations", store, "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s migrations found: %v", store, err)
	}
	slices.Sort(files)
	var out []migration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, migration{filepath.Base(f), string(b)})
	}
	return out
}

// --- HTTP client -----------------------------------------------------------

type response struct {
	status int
	header http.Header
	body   []byte
}

// get calls the service and checks the response against the OpenAPI
// document: every response of every integration test is a conformance check.
func (e *testEnv) get(path, bearer string) response {
	e.t.Helper()
	return e.getWith(path, bearer, nil)
}

// getWith is get with extra request headers.
func (e *testEnv) getWith(path, bearer string, header http.Header) response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("GET %s: read: %v", path, err)
	}
	route := resp.Header.Get("X-Test-Route")
	if route == "" {
		e.t.Fatalf("GET %s: no route matched (status %d)", path, resp.StatusCode)
	}
	if err := e.doc.ValidateResponse(http.MethodGet, route, resp.StatusCode, resp.Header, body); err != nil {
		e.t.Errorf("GET %s: response does not match docs/openapi.yaml: %v\n%s", path, err, truncate(body))
	}
	return response{resp.StatusCode, resp.Header, body}
}

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func (e *testEnv) userToken(user schemas.ID) string {
	tok, _, err := e.keys.Issue(user, "u"+user.String())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := schemas.StrictUnmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, truncate(r.body))
	}
	return v
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, truncate(r.body))
	}
}

// --- fixture: the rows the projector writes --------------------------------

// newID mints a snowflake id at t (distinct within the env).
func (e *testEnv) newID(at time.Time) schemas.ID {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.step++
	return schemas.IDAt(at) + schemas.ID(e.step%(1<<22))
}

func (e *testEnv) nextSeq(room schemas.ID) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seqs[room]++
	return e.seqs[room]
}

// addRoom writes a room as the projectors would after room.created or
// room.proposed (seq 1).
func (e *testEnv) addRoom(title, status string, createdBy schemas.ID, at time.Time) schemas.ID {
	e.t.Helper()
	ctx := context.Background()
	id := e.newID(at)
	seq := e.nextSeq(id)
	var by *int64
	if createdBy != 0 {
		v := int64(createdBy)
		by = &v
	}
	if _, err := e.pg.Exec(ctx, `INSERT INTO rooms (room_id, title, description, status, created_by, created_at, last_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, int64(id), title, "about "+title, status, by, at, seq); err != nil {
		e.t.Fatal(err)
	}
	e.insertEvents(ctx, []event{{room: id, seq: seq, id: id, typ: schemas.TypeRoomCreated, at: at}})
	return id
}

type event struct {
	room, id, user schemas.ID
	seq            int64
	typ            string
	at             time.Time
}

func (e *testEnv) insertEvents(ctx context.Context, evs []event) {
	e.t.Helper()
	b, err := e.ch.PrepareBatch(ctx, `INSERT INTO room_events (room_id, seq, id, type, user_id, occurred_ms, occurred_at, partition, offset)`)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		if err := b.Append(uint64(ev.room), uint64(ev.seq), uint64(ev.id), ev.typ, uint64(ev.user),
			ev.at.UnixMilli(), ev.at, uint32(0), uint64(ev.seq)); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		e.t.Fatal(err)
	}
}

// addMember writes a current membership (room.joined).
func (e *testEnv) addMember(room, user schemas.ID, nickname string, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	id := e.newID(at)
	seq := e.nextSeq(room)
	if _, err := e.pg.Exec(ctx, `INSERT INTO members (room_id, user_id, join_event_id, nickname, joined_at) VALUES ($1, $2, $3, $4, $5)`,
		int64(room), int64(user), int64(id), nickname, at); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.pg.Exec(ctx, `UPDATE rooms SET member_count = member_count + 1, last_seq = $2 WHERE room_id = $1`, int64(room), seq); err != nil {
		e.t.Fatal(err)
	}
	e.insertEvents(ctx, []event{{room: room, seq: seq, id: id, user: user, typ: schemas.TypeRoomJoined, at: at}})
}

// endMembership writes a room.left: user's current membership of room ends.
func (e *testEnv) endMembership(room, user schemas.ID, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	id := e.newID(at)
	seq := e.nextSeq(room)
	tag, err := e.pg.Exec(ctx, `UPDATE members SET left_at = $3, left_reason = 'left', ended_by = $4
		WHERE room_id = $1 AND user_id = $2 AND left_at IS NULL`, int64(room), int64(user), at, int64(id))
	if err != nil || tag.RowsAffected() != 1 {
		e.t.Fatalf("end membership: %v (%d rows)", err, tag.RowsAffected())
	}
	if _, err := e.pg.Exec(ctx, `UPDATE rooms SET member_count = member_count - 1, last_seq = $2 WHERE room_id = $1`, int64(room), seq); err != nil {
		e.t.Fatal(err)
	}
	e.insertEvents(ctx, []event{{room: room, seq: seq, id: id, user: user, typ: schemas.TypeRoomLeft, at: at}})
}

// renameMember writes a member.renamed as the projectors would: the
// membership's new nickname and the renames row in PostgreSQL (unless
// recorded is false: the PostgreSQL projector has not caught up), the
// event in ClickHouse.
func (e *testEnv) renameMember(room, user schemas.ID, previous, nickname string, at time.Time, recorded bool) {
	e.t.Helper()
	ctx := context.Background()
	id := e.newID(at)
	seq := e.nextSeq(room)
	if recorded {
		if _, err := e.pg.Exec(ctx, `UPDATE members SET nickname = $3 WHERE room_id = $1 AND user_id = $2 AND left_at IS NULL`,
			int64(room), int64(user), nickname); err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.pg.Exec(ctx, `INSERT INTO renames (room_id, event_id, user_id, previous, nickname) VALUES ($1, $2, $3, $4, $5)`,
			int64(room), int64(id), int64(user), previous, nickname); err != nil {
			e.t.Fatal(err)
		}
	}
	if _, err := e.pg.Exec(ctx, `UPDATE rooms SET last_seq = $2 WHERE room_id = $1`, int64(room), seq); err != nil {
		e.t.Fatal(err)
	}
	e.insertEvents(ctx, []event{{room: room, seq: seq, id: id, user: user, typ: schemas.TypeMemberRenamed, at: at}})
}

// msg is a message to write; zero fields get defaults.
type msg struct {
	user     schemas.ID
	nickname string
	body     string
	effects  []string
	at       time.Time
}

// addMessages writes messages (message.sent) as both projectors would:
// history rows and events in ClickHouse, ordinals and counters in
// PostgreSQL. It returns them as the API should show them.
func (e *testEnv) addMessages(room schemas.ID, msgs []msg) []schemas.Message {
	e.t.Helper()
	ctx := context.Background()
	out := make([]schemas.Message, 0, len(msgs))
	for _, m := range msgs {
		if m.nickname == "" {
			m.nickname = "u" + m.user.String()
		}
		id := e.newID(m.at)
		out = append(out, schemas.Message{
			ID: id, RoomID: room, UserID: m.user, Nickname: m.nickname, Body: m.body,
			SentAt: schemas.FormatTime(m.at), ClientMsgID: "c-" + id.String(),
			Effects: m.effects, Seq: e.nextSeq(room),
		})
	}
	e.insertHistory(ctx, out)
	evs := make([]event, 0, len(out))
	for _, m := range out {
		at, _ := schemas.ParseTime(m.SentAt)
		evs = append(evs, event{room: room, seq: m.Seq, id: m.ID, user: m.UserID, typ: schemas.TypeMessageSent, at: at})
	}
	e.insertEvents(ctx, evs)

	tx, err := e.pg.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows := make([][]any, 0, len(out))
	e.mu.Lock()
	for _, m := range out {
		e.ordinals[room]++
		rows = append(rows, []any{int64(room), int64(m.ID), m.Seq, e.ordinals[room]})
	}
	e.mu.Unlock()
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"room_messages"}, []string{"room_id", "message_id", "seq", "ordinal"}, pgx.CopyFromRows(rows)); err != nil {
		e.t.Fatal(err)
	}
	last := out[len(out)-1]
	lastAt, _ := schemas.ParseTime(last.SentAt)
	if _, err := tx.Exec(ctx, `UPDATE rooms SET message_count = message_count + $2, last_message_at = $3,
		last_message_id = $4, last_seq = GREATEST(last_seq, $5) WHERE room_id = $1`,
		int64(room), len(out), lastAt, int64(last.ID), last.Seq); err != nil {
		e.t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// insertHistory writes messages rows; called again with the same messages
// it makes the duplicates a replay leaves until ClickHouse merges them.
func (e *testEnv) insertHistory(ctx context.Context, msgs []schemas.Message) {
	e.t.Helper()
	b, err := e.ch.PrepareBatch(ctx, `INSERT INTO messages (room_id, id, seq, user_id, nickname, text, body, effects,
		client_msg_id, sent_ms, sent_at, rules_version, partition, offset)`)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range msgs {
		at, _ := schemas.ParseTime(m.SentAt)
		effects := m.Effects
		if effects == nil {
			effects = []string{}
		}
		if err := b.Append(uint64(m.RoomID), uint64(m.ID), uint64(m.Seq), uint64(m.UserID), m.Nickname, m.Body, m.Body,
			effects, m.ClientMsgID, at.UnixMilli(), at, "test", uint32(0), uint64(m.Seq)); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) setReadMark(user, room, upTo schemas.ID) {
	e.t.Helper()
	if _, err := e.pg.Exec(context.Background(), `INSERT INTO read_marks (user_id, room_id, up_to) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, room_id) DO UPDATE SET up_to = GREATEST(read_marks.up_to, EXCLUDED.up_to)`,
		int64(user), int64(room), int64(upTo)); err != nil {
		e.t.Fatal(err)
	}
}

// spread makes n messages from users (round robin) at start, start+every, …
func spread(n int, start time.Time, every time.Duration, users ...schemas.ID) []msg {
	out := make([]msg, n)
	for i := range out {
		out[i] = msg{user: users[i%len(users)], body: fmt.Sprintf("message %d 🐱", i), at: start.Add(time.Duration(i) * every)}
	}
	return out
}
