package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/chtest"
	"happychat/internal/testenv"
	"happychat/internal/tokentest"
	"happychat/internal/wstest"
	"happychat/schemas"
	"happychat/schemas/idgen"
	"happychat/schemas/moderation"
	"happychat/schemas/token"
)

// Integration tests run against the real Kafka (KAFKA_BROKERS) and, for the
// ClickHouse locator, the real ClickHouse (CLICKHOUSE_ADDR), each under its
// own topic prefix and database. The command service is played by
// fakeCommands: it appends real events to the real log (gap-free seq per
// room) and answers presence from its own fold.

// clickhouseDB returns a connection to a fresh database holding the history
// migrations; the database is dropped at the end of the test.
func clickhouseDB(t *testing.T) driver.Conn {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs ClickHouse")
	}
	conn, _ := chtest.Database(t, clickhouse.Options{Addr: []string{testenv.ClickHouseAddr()}, DialTimeout: 3 * time.Second}, "test_")
	const history = "../projector/migrations/clickhouse/0001_history.sql"
	ddl, err := os.ReadFile(history)
	if err != nil {
		t.Fatal(err)
	}
	chtest.ExecScript(t, conn, history, string(ddl))
	return conn
}

// env is one test's topics, command service and token keys.
type env struct {
	t       *testing.T
	brokers []string
	names   schemas.Names
	parts   int
	keys    *token.Keys
	rules   *moderation.Rules
	cmds    *fakeCommands
}

func newEnv(t *testing.T, parts int) *env {
	t.Helper()
	b := testenv.Kafka(t)
	names := schemas.NamesFor(testenv.RandomName("t"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The features topic is where the service advertises its build's level;
	// the typing topic carries typing indicators between instances.
	for topic, n := range map[string]int{names.Rooms: parts, names.Features: 1, names.Typing: 1} {
		resp, err := adm.CreateTopic(ctx, int32(n), 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, names.Rooms, names.Features, names.Typing)
		cl.Close()
	})
	rules, err := moderation.New([]string{"darn"}, map[string]string{"congrats": "balloons"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, brokers: b, names: names, parts: parts, keys: testKeys(t), rules: rules}
	e.cmds = newFakeCommands(t, b, names.Rooms, parts, rules)
	return e
}

// instance is one running realtime Service behind a real HTTP server.
type instance struct {
	svc *Service
	srv *httptest.Server
	reg *prometheus.Registry
}

func (e *env) start(mutate func(*Config)) *instance {
	t := e.t
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{
		Brokers: e.brokers, Names: e.names, Commands: e.cmds, Keys: e.keys, Rules: e.rules,
		Log:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Metrics: reg,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
		srv.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for svc.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("realtime did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &instance{svc: svc, srv: srv, reg: reg}
}

// testWriter sends the service's warnings to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (in *instance) wsURL(room schemas.ID, tok string, since int64) string {
	q := url.Values{"room": {room.String()}, "token": {tok}}
	if since >= 0 {
		q.Set("since_seq", strconv.FormatInt(since, 10))
	}
	return "ws" + strings.TrimPrefix(in.srv.URL, "http") + "/v1/ws?" + q.Encode()
}

// client is a test's WebSocket, or its SSE stream (sse set, ws nil).
type client struct {
	t   *testing.T
	ws  *websocket.Conn
	sse *wstest.SSE
}

// dial opens a socket (since < 0: no since_seq) and fails the test on error.
func (in *instance) dial(t *testing.T, room schemas.ID, tok string, since int64) *client {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(in.wsURL(room, tok, since), nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	c := &client{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.Close() })
	return c
}

// dialSmall opens a socket whose receive buffer is tiny (set before
// connecting, so the advertised window is small from the start): the
// server's writes to it block soon once it stops reading.
func (in *instance) dialSmall(t *testing.T, room schemas.ID, tok string, since int64) *client {
	t.Helper()
	small := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	d := websocket.Dialer{NetDialContext: small.DialContext}
	ws, _, err := d.Dial(in.wsURL(room, tok, since), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &client{t: t, ws: ws}
}

// read returns the next frame within timeout. On a stream it also checks
// the SSE framing: the event is named after the frame's type, and a room
// event's id is its seq (nothing else has one).
func (c *client) read(timeout time.Duration) (wstest.Frame, error) {
	if c.sse != nil {
		f, err := c.sse.Next(timeout)
		if err != nil {
			return f, err
		}
		wantID := ""
		if seq := f.EventSeq(); seq > 0 {
			wantID = strconv.FormatInt(seq, 10)
		}
		if f.SSEEvent != f.Type || f.SSEID != wantID {
			return f, fmt.Errorf("event %q id %q for frame %s", f.SSEEvent, f.SSEID, f.Raw)
		}
		return f, nil
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return wstest.Frame{}, err
	}
	return wstest.Decode(mt, data)
}

func (c *client) mustRead(timeout time.Duration) wstest.Frame {
	c.t.Helper()
	f, err := c.read(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// presence reads the first frame, which must be presence.
func (c *client) presence() wstest.Frame {
	c.t.Helper()
	f := c.mustRead(10 * time.Second)
	if f.Type != typePresence {
		c.t.Fatalf("first frame is %q, want presence", f.Type)
	}
	return f
}

// eventsUntil reads event frames until one with seq >= upTo, returning the
// event frames (other frames are kept in others).
func (c *client) eventsUntil(upTo int64, timeout time.Duration) (events, others []wstest.Frame) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("timed out waiting for seq %d; got %d events, last %v", upTo, len(events), lastSeq(events))
		}
		f, err := c.read(left)
		if err != nil {
			c.t.Fatalf("waiting for seq %d after %d events (last %v): %v", upTo, len(events), lastSeq(events), err)
		}
		if s := f.EventSeq(); s > 0 {
			events = append(events, f)
			if s >= upTo {
				return events, others
			}
			continue
		}
		others = append(others, f)
	}
}

func lastSeq(fs []wstest.Frame) int64 {
	if len(fs) == 0 {
		return 0
	}
	return fs[len(fs)-1].EventSeq()
}

// checkContiguous fails unless events are exactly seqs from..to in order.
func checkContiguous(t *testing.T, who string, events []wstest.Frame, from, to int64) {
	t.Helper()
	if int64(len(events)) != to-from+1 {
		t.Fatalf("%s: got %d events, want %d (seq %d..%d); last %d", who, len(events), to-from+1, from, to, lastSeq(events))
	}
	for i, f := range events {
		if want := from + int64(i); f.EventSeq() != want {
			t.Fatalf("%s: event %d has seq %d, want %d", who, i, f.EventSeq(), want)
		}
	}
}

// closeCode reads until the socket closes and returns the close code
// (websocket.CloseAbnormalClosure when the connection just ended).
func (c *client) closeCode(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f, err := c.read(time.Until(deadline))
		if err == nil {
			if c.sse != nil && f.Type == "close" {
				return f.Code // the stream's last event
			}
			continue
		}
		if errors.Is(err, wstest.ErrTimeout) {
			break
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			break
		}
		return websocket.CloseAbnormalClosure
	}
	c.t.Fatal("socket did not close in time")
	return 0
}

func (c *client) sendJSON(v any) {
	c.t.Helper()
	b, err := schemas.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatal(err)
	}
}

// fakeCommands plays the command service: one writer for every room (a
// mutex), gap-free seq, real events on the real log.
type fakeCommands struct {
	t     *testing.T
	mu    sync.Mutex
	cl    *kgo.Client
	topic string
	parts int
	ids   *idgen.Gen
	rooms map[schemas.ID]*fakeRoom
	rules Moderation
}

type fakeRoom struct {
	seq     int64
	members map[schemas.ID]schemas.Member
	sent    map[string]schemas.Message
	// offsets[seq] is where the event of that seq sits on the log.
	offsets map[int64]loggedEvent
}

type loggedEvent struct {
	env       schemas.Envelope
	partition int32
	offset    int64
}

func newFakeCommands(t *testing.T, brokers []string, topic string, parts int, rules Moderation) *fakeCommands {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ids, err := idgen.New(7)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeCommands{t: t, cl: cl, topic: topic, parts: parts, ids: ids, rules: rules, rooms: map[schemas.ID]*fakeRoom{}}
}

func (f *fakeCommands) newID() schemas.ID {
	id, err := f.ids.Next()
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// appendLocked appends events for one room in one produce call; f.mu held.
func (f *fakeCommands) appendLocked(ctx context.Context, room schemas.ID, user schemas.ID, payloads ...schemas.Event) ([]schemas.Envelope, error) {
	r := f.rooms[room]
	envs := make([]schemas.Envelope, len(payloads))
	recs := make([]*kgo.Record, len(payloads))
	for i, p := range payloads {
		id, err := f.ids.Next()
		if err != nil {
			return nil, err
		}
		envs[i] = schemas.Envelope{ID: id, RoomID: room, UserID: user, Seq: r.seq + int64(i) + 1,
			OccurredAt: time.Now(), Payload: p}
		b, err := schemas.Events.Encode(envs[i])
		if err != nil {
			return nil, err
		}
		envs[i].OccurredAt = envs[i].OccurredAt.UTC().Truncate(time.Millisecond)
		envs[i].Type = p.EventType()
		recs[i] = &kgo.Record{Key: schemas.Key(room), Value: b}
	}
	if err := f.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, err
	}
	for i, e := range envs {
		r.offsets[e.Seq] = loggedEvent{env: e, partition: recs[i].Partition, offset: recs[i].Offset}
	}
	r.seq += int64(len(payloads))
	return envs, nil
}

func (f *fakeCommands) createRoom() schemas.ID {
	f.mu.Lock()
	defer f.mu.Unlock()
	room := f.newID()
	f.rooms[room] = &fakeRoom{members: map[schemas.ID]schemas.Member{}, sent: map[string]schemas.Message{}, offsets: map[int64]loggedEvent{}}
	if _, err := f.appendLocked(context.Background(), room, 0, schemas.RoomCreated{Title: "test room"}); err != nil {
		f.t.Fatal(err)
	}
	return room
}

// createRoomOn creates a room whose partition is part.
func (f *fakeCommands) createRoomOn(part int32) schemas.ID {
	for {
		id := f.newID()
		if schemas.Partition(id, f.parts) == part {
			f.mu.Lock()
			f.rooms[id] = &fakeRoom{members: map[schemas.ID]schemas.Member{}, sent: map[string]schemas.Message{}, offsets: map[int64]loggedEvent{}}
			_, err := f.appendLocked(context.Background(), id, 0, schemas.RoomCreated{Title: "test room"})
			f.mu.Unlock()
			if err != nil {
				f.t.Fatal(err)
			}
			return id
		}
	}
}

func (f *fakeCommands) join(room, user schemas.ID, nick string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	envs, err := f.appendLocked(context.Background(), room, user, schemas.RoomJoined{Nickname: nick})
	if err != nil {
		f.t.Fatal(err)
	}
	f.rooms[room].members[user] = schemas.Member{UserID: user, Nickname: nick, JoinedAt: schemas.FormatTime(envs[0].OccurredAt)}
}

func (f *fakeCommands) leave(room, user schemas.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[room]
	if _, err := f.appendLocked(context.Background(), room, user, schemas.RoomLeft{Reason: schemas.LeftReasonLeft, Nickname: r.members[user].Nickname}); err != nil {
		f.t.Fatal(err)
	}
	delete(r.members, user)
}

// postMany appends n messages by user in one produce call.
func (f *fakeCommands) postMany(room, user schemas.ID, n int, text func(i int) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nick := f.rooms[room].members[user].Nickname
	ps := make([]schemas.Event, n)
	for i := range ps {
		ps[i] = schemas.MessageSent{Text: text(i), ClientMsgID: testenv.RandomName("c"), Nickname: nick}
	}
	if _, err := f.appendLocked(context.Background(), room, user, ps...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeCommands) head(room schemas.ID) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rooms[room].seq
}

func (f *fakeCommands) logged(room schemas.ID) map[int64]loggedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int64]loggedEvent{}
	for k, v := range f.rooms[room].offsets {
		out[k] = v
	}
	return out
}

func (f *fakeCommands) Send(ctx context.Context, c Caller, room schemas.ID, body, clientMsgID string) (schemas.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[room]
	if r == nil {
		return schemas.Message{}, schemas.Errorf(schemas.CodeNotFound, "no such room")
	}
	if _, ok := r.members[c.UserID]; !ok {
		return schemas.Message{}, schemas.Errorf(schemas.CodeForbidden, "not a member")
	}
	if body == "" {
		return schemas.Message{}, schemas.Errorf(schemas.CodeBadRequest, "body must not be empty")
	}
	key := c.UserID.String() + "/" + clientMsgID
	if m, ok := r.sent[key]; ok {
		return m, nil
	}
	p := schemas.MessageSent{Text: body, ClientMsgID: clientMsgID, Nickname: c.Nickname}
	envs, err := f.appendLocked(ctx, room, c.UserID, p)
	if err != nil {
		return schemas.Message{}, schemas.Errorf(schemas.CodeUnavailable, "append failed")
	}
	m := messageOf(envs[0], p, f.rules)
	r.sent[key] = m
	return m, nil
}

func (f *fakeCommands) Presence(_ context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rooms[room]
	if r == nil {
		return nil, 0, schemas.Errorf(schemas.CodeNotFound, "no such room")
	}
	members := make([]schemas.Member, 0, len(r.members))
	for _, m := range r.members {
		members = append(members, m)
	}
	return members, r.seq, nil
}

// user is a test user with a token.
type user struct {
	id   schemas.ID
	nick string
	tok  string
}

func (e *env) newUser(nick string) user {
	id := e.cmds.newID()
	return user{id: id, nick: nick, tok: tokentest.Issue(e.t, e.keys, id, nick)}
}

// member creates a user and joins it to room.
func (e *env) member(room schemas.ID, nick string) user {
	u := e.newUser(nick)
	e.cmds.join(room, u.id, nick)
	return u
}
