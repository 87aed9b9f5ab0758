package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/testenv"
	"happychat/internal/wstest"
	"happychat/query/openapi"
	"happychat/schemas"
	"happychat/schemas/token"
)

// End-to-end tests of the realtime service (issue #6): the whole system runs
// in-process through the dev wiring (happychat dev: the real command service,
// projectors and query service, the real Kafka, PostgreSQL and ClickHouse,
// fresh topics and databases per test), and clients are gorilla/websocket
// sockets on GET /v1/ws. What they hold the service to is the contract
// (API.md "Realtime") and docs/realtime.md.
//
// No assertion is about wall-clock time: waits poll with generous deadlines.

// Frame types of the contract and of docs/realtime.md's extensions (the
// room events' in wstest).
const (
	rtPresence = "presence"
	rtAck      = "ack"
	rtError    = "error"
	rtPong     = "pong"
)

// Close codes of docs/realtime.md (the tests spell them out rather than
// import the package under test's constants).
const (
	rtCloseUnsupportedData = 1003
	rtCloseInvalidPayload  = 1007
	rtClosePolicyViolation = 1008
	rtCloseTooBig          = 1009
	rtCloseSlowConsumer    = 4008
)

// rtDev is happychat dev for these tests. It keeps the environment it runs
// with, so that a split realtime instance started next to it shares its
// topics, stores and token secret.
type rtDev struct {
	*devSystem
	env map[string]string
}

// startRealtimeDev is startDev with settings of its own (overrides win).
func startRealtimeDev(t *testing.T, overrides map[string]string) *rtDev {
	t.Helper()
	env := devEnv(t)
	maps.Copy(env, overrides)
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	addr := runServing(t, "dev", env)
	t.Logf("happychat dev up in %v", time.Since(start).Round(time.Millisecond))
	return &rtDev{devSystem: &devSystem{t: t, base: "http://" + addr, doc: doc}, env: env}
}

// with is s for a subtest: its helpers fail t, not the parent test.
func (s *rtDev) with(t *testing.T) *rtDev {
	return &rtDev{devSystem: &devSystem{t: t, base: s.base, doc: s.doc}, env: s.env}
}

// internalBases maps the base URL of a process runServing started to its
// internal listener's (/metrics, the internal protocol).
var internalBases sync.Map

// internalBase is the internal listener's base URL of the process serving
// base (the public one).
func internalBase(base string) string {
	v, ok := internalBases.Load(base)
	if !ok {
		panic("no internal listener known for " + base)
	}
	return v.(string)
}

// runServing runs `happychat <sub>` in-process, exactly as the subcommand
// does, until the test ends, and returns its address once /readyz says 200.
// Its internal listener's is internalBase("http://" + address).
func runServing(t *testing.T, sub string, env map[string]string) string {
	t.Helper()
	addr, _ := startServing(t, sub, env)
	return addr
}

// startServing is runServing that also returns a stop: it ends the process
// and waits for it (the test's end does the same if the test does not).
func startServing(t *testing.T, sub string, env map[string]string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	internalc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, Env{
			Getenv: func(k string) string { return env[k] },
			Stdout: io.Discard, Stderr: os.Stderr,
			Ready:         func(a string) { addrc <- a },
			InternalReady: func(a string) { internalc <- a },
		}, []string{sub})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("happychat %s stopped with %v", sub, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("happychat %s did not stop", sub)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr = <-addrc:
	case err := <-done:
		done <- nil
		t.Fatalf("happychat %s failed to start: %v", sub, err)
	case <-time.After(90 * time.Second):
		t.Fatalf("happychat %s did not start", sub)
	}
	internalBases.Store("http://"+addr, "http://"+<-internalc)
	eventually(t, "happychat "+sub+" ready", func() error {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz answered %d", resp.StatusCode)
		}
		return nil
	})
	return addr, stop
}

// startSplitRealtime starts a second realtime instance the way `happychat
// realtime` runs when the services are split: its own port, the same topics
// and token secret, sends and presence over HTTP to this dev server's
// command service's internal listener. It returns the instance's base URL.
func (s *rtDev) startSplitRealtime(t *testing.T) string {
	t.Helper()
	env := maps.Clone(s.env)
	env["CHAT_COMMAND_URL"] = internalBase(s.base)
	env["CHAT_HTTP_ADDR"] = "127.0.0.1:0"
	return "http://" + runServing(t, "realtime", env)
}

func roomPath(room schemas.ID) string { return "/v1/rooms/" + room.String() }

// openRoom creates an open room (as the admin).
func (s *rtDev) openRoom(title string) schemas.ID {
	s.t.Helper()
	var room schemas.Room
	if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", e2eAdmin, map[string]string{"title": title, "description": "realtime e2e"}, &room); st != http.StatusCreated {
		s.t.Fatalf("create room: %d %s", st, b)
	}
	return room.ID
}

func (s *rtDev) join(room schemas.ID, u schemas.Session) {
	s.t.Helper()
	if st, _, b := s.call("POST", roomPath(room)+"/join", "/v1/rooms/:id/join", u.Token, nil, nil); st != http.StatusOK {
		s.t.Fatalf("join: %d %s", st, b)
	}
}

func (s *rtDev) leave(room schemas.ID, u schemas.Session) {
	s.t.Helper()
	if st, _, b := s.call("POST", roomPath(room)+"/leave", "/v1/rooms/:id/leave", u.Token, nil, nil); st != http.StatusOK {
		s.t.Fatalf("leave: %d %s", st, b)
	}
}

// member opens a session and joins it to room.
func (s *rtDev) member(room schemas.ID, nick string) schemas.Session {
	s.t.Helper()
	u := s.session(nick)
	s.join(room, u)
	return u
}

// post sends one message over HTTP and returns the 201 answer.
func (s *rtDev) post(room schemas.ID, u schemas.Session, body string) schemas.Message {
	s.t.Helper()
	var m schemas.Message
	if st, _, b := s.call("POST", roomPath(room)+"/messages", "/v1/rooms/:id/messages", u.Token,
		map[string]string{"body": body, "client_msg_id": "h-" + testenv.RandomHex(8)}, &m); st != http.StatusCreated {
		s.t.Fatalf("post: %d %s", st, b)
	}
	return m
}

// postMany posts n messages over HTTP from workers concurrent clients (safe
// to call from any goroutine: it reports errors instead of failing) and
// returns the answers in seq order.
func postMany(base string, room schemas.ID, u schemas.Session, n, workers int, body func(i int) string) ([]schemas.Message, error) {
	out := make([]schemas.Message, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				errs[i] = rtPost(base, roomPath(room)+"/messages", u.Token,
					map[string]string{"body": body(i), "client_msg_id": "m-" + testenv.RandomHex(8)}, &out[i])
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b schemas.Message) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// mustPostMany is postMany for the test goroutine.
func (s *rtDev) mustPostMany(room schemas.ID, u schemas.Session, n, workers int, body func(i int) string) []schemas.Message {
	s.t.Helper()
	msgs, err := postMany(s.base, room, u, n, workers, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return msgs
}

// rtPost POSTs JSON and decodes a 2xx answer into out. Safe from any
// goroutine: it returns errors rather than failing the test.
func rtPost(base, path, tok string, in, out any) error {
	// No input is no body (join, leave), as a client sends them: a JSON
	// null is refused like any body that is not an object.
	var b []byte
	if in != nil {
		var err error
		if b, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// rtMetric reads one series of the /metrics of the process serving base
// (on its internal listener; 0 when absent), e.g.
// `happychat_realtime_resumes_total{path="ring"}`.
func rtMetric(base, series string) (float64, error) {
	resp, err := http.Get(internalBase(base) + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, sc.Err()
}

func (s *rtDev) metric(series string) float64 {
	s.t.Helper()
	v, err := rtMetric(s.base, series)
	if err != nil {
		s.t.Fatalf("metrics: %v", err)
	}
	return v
}

// checkNoGaps: happychat_realtime_seq_gaps_total must stay 0
// (docs/realtime.md).
func checkNoGaps(t *testing.T, base string) {
	t.Helper()
	v, err := rtMetric(base, "happychat_realtime_seq_gaps_total")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	if v != 0 {
		t.Errorf("%s: happychat_realtime_seq_gaps_total = %v, want 0", base, v)
	}
}

// rtClient is one test socket.
type rtClient struct {
	t    *testing.T
	name string
	room schemas.ID
	ws   *websocket.Conn
}

func rtWSURL(base string, room schemas.ID, tok string, since int64) string {
	q := url.Values{"room": {room.String()}}
	if tok != "" {
		q.Set("token", tok)
	}
	if since >= 0 {
		q.Set("since_seq", strconv.FormatInt(since, 10))
	}
	return "ws" + strings.TrimPrefix(base, "http") + "/v1/ws?" + q.Encode()
}

// dialRT opens a socket on the instance at base (since < 0: no since_seq)
// with d (nil: the default dialer) and fails the test if it is refused.
func dialRT(t *testing.T, name, base string, room schemas.ID, u schemas.Session, since int64, d *websocket.Dialer) *rtClient {
	t.Helper()
	if d == nil {
		d = websocket.DefaultDialer
	}
	ws, resp, err := d.Dial(rtWSURL(base, room, u.Token, since), nil)
	if err != nil {
		status, body := 0, []byte(nil)
		if resp != nil {
			status = resp.StatusCode
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		t.Fatalf("%s: dial: %v (%d %s)", name, err, status, body)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return &rtClient{t: t, name: name, room: room, ws: ws}
}

// read returns the next frame within timeout.
func (c *rtClient) read(timeout time.Duration) (wstest.Frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	mt, data, err := c.ws.ReadMessage()
	if err != nil {
		return wstest.Frame{}, err
	}
	return wstest.Decode(mt, data)
}

func (c *rtClient) mustRead(timeout time.Duration) wstest.Frame {
	c.t.Helper()
	f, err := c.read(timeout)
	if err != nil {
		c.t.Fatalf("%s: read: %v", c.name, err)
	}
	if r := f.Room(); (f.IsEvent() || f.Type == rtPresence) && r != c.room {
		c.t.Fatalf("%s: a frame of room %s on a socket of room %s: %s", c.name, r, c.room, f)
	}
	return f
}

// presence reads the first frame, which must be the room's presence.
func (c *rtClient) presence() wstest.Frame {
	c.t.Helper()
	f := c.mustRead(20 * time.Second)
	if f.Type != rtPresence || f.RoomID != c.room {
		c.t.Fatalf("%s: first frame %s, want the room's presence", c.name, f)
	}
	return f
}

// eventsUntil reads until an event with seq >= upTo and returns the events
// and, apart, the other frames.
func (c *rtClient) eventsUntil(upTo int64, timeout time.Duration) (events, others []wstest.Frame) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("%s: timed out waiting for seq %d; %d events, last %d", c.name, upTo, len(events), lastEventSeq(events))
		}
		f, err := c.read(left)
		if err != nil {
			c.t.Fatalf("%s: waiting for seq %d after %d events (last %d): %v", c.name, upTo, len(events), lastEventSeq(events), err)
		}
		if f.IsEvent() {
			if f.Room() != c.room {
				c.t.Fatalf("%s: an event of room %s: %s", c.name, f.Room(), f)
			}
			events = append(events, f)
			if f.EventSeq() >= upTo {
				return events, others
			}
			continue
		}
		others = append(others, f)
	}
}

func (c *rtClient) sendJSON(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

func sendFrame(cmid, body string) map[string]string {
	return map[string]string{"type": "send", "body": body, "client_msg_id": cmid}
}

// readToClose reads frames until the socket ends and returns them with the
// close code (1006 when the connection ended without a close frame, 0 on
// timeout). Safe from any goroutine.
func readToClose(ws *websocket.Conn, timeout time.Duration) ([]wstest.Frame, int, error) {
	var frames []wstest.Frame
	deadline := time.Now().Add(timeout)
	_ = ws.SetReadDeadline(deadline)
	for {
		mt, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			var ne net.Error
			switch {
			case errors.As(err, &ce):
				return frames, ce.Code, nil
			case errors.As(err, &ne) && ne.Timeout():
				return frames, 0, fmt.Errorf("no close within %s", timeout)
			default:
				return frames, websocket.CloseAbnormalClosure, err
			}
		}
		f, err := wstest.Decode(mt, data)
		if err != nil {
			return frames, 0, err
		}
		frames = append(frames, f)
	}
}

// rtCollector reads every frame of a socket in the background.
type rtCollector struct {
	c      *rtClient
	mu     sync.Mutex
	frames []wstest.Frame
	last   int64
	err    error
	done   chan struct{}
}

// collect starts reading c in the background until stop. Other goroutines
// may still write to c (one at a time).
func (c *rtClient) collect() *rtCollector {
	col := &rtCollector{c: c, done: make(chan struct{})}
	_ = c.ws.SetReadDeadline(time.Time{})
	go func() {
		defer close(col.done)
		for {
			mt, data, err := c.ws.ReadMessage()
			var f wstest.Frame
			if err == nil {
				f, err = wstest.Decode(mt, data)
			}
			col.mu.Lock()
			if err != nil {
				col.err = err
				col.mu.Unlock()
				return
			}
			col.frames = append(col.frames, f)
			col.last = max(col.last, f.EventSeq())
			col.mu.Unlock()
		}
	}()
	return col
}

// snapshot returns the frames so far and the read error, if any.
func (col *rtCollector) snapshot() ([]wstest.Frame, error) {
	col.mu.Lock()
	defer col.mu.Unlock()
	return slices.Clone(col.frames), col.err
}

// waitSeq waits until the socket has delivered an event with seq >= upTo.
func (col *rtCollector) waitSeq(t *testing.T, upTo int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s delivers seq %d", col.c.name, upTo), func() error {
		col.mu.Lock()
		last, err := col.last, col.err
		col.mu.Unlock()
		switch {
		case last >= upTo:
			return nil
		case err != nil:
			// No point waiting: the socket is gone.
			t.Fatalf("%s: the socket ended at seq %d, waiting for %d: %v", col.c.name, last, upTo, err)
		}
		return fmt.Errorf("at seq %d", last)
	})
}

// stop closes the socket and returns every frame it delivered.
func (col *rtCollector) stop() []wstest.Frame {
	_ = col.c.ws.Close()
	<-col.done
	col.mu.Lock()
	defer col.mu.Unlock()
	return col.frames
}

func lastEventSeq(fs []wstest.Frame) int64 {
	for i := len(fs) - 1; i >= 0; i-- {
		if s := fs[i].EventSeq(); s > 0 {
			return s
		}
	}
	return 0
}

// splitFrames separates the room events from the other frames and checks
// that every frame that names a room names want.
func splitFrames(t *testing.T, who string, want schemas.ID, frames []wstest.Frame) (events, others []wstest.Frame) {
	t.Helper()
	for _, f := range frames {
		if (f.IsEvent() || f.Type == rtPresence) && f.Room() != want {
			t.Fatalf("%s: a frame of room %s, want only room %s: %s", who, f.Room(), want, f)
		}
		if f.IsEvent() {
			events = append(events, f)
		} else {
			others = append(others, f)
		}
	}
	return events, others
}

// checkSeqRun fails unless events are exactly the seqs from..to, in order:
// strictly increasing, no gap, no repeat.
func checkSeqRun(t *testing.T, who string, events []wstest.Frame, from, to int64) {
	t.Helper()
	for i, f := range events {
		if want := from + int64(i); f.EventSeq() != want {
			t.Fatalf("%s: event %d has seq %d, want %d (expected %d..%d): %s", who, i, f.EventSeq(), want, from, to, f)
		}
	}
	if int64(len(events)) != to-from+1 {
		t.Fatalf("%s: %d events, want seq %d..%d (%d); last %d", who, len(events), from, to, to-from+1, lastEventSeq(events))
	}
}

// sameMessage compares two renderings of a message field by field (an
// empty effects list equals an absent one).
func sameMessage(a, b schemas.Message) error {
	if a.ID != b.ID || a.RoomID != b.RoomID || a.UserID != b.UserID || a.Nickname != b.Nickname ||
		a.Body != b.Body || a.SentAt != b.SentAt || a.ClientMsgID != b.ClientMsgID || a.Seq != b.Seq ||
		!slices.Equal(a.Effects, b.Effects) {
		return fmt.Errorf("messages differ:\n  %+v\n  %+v", a, b)
	}
	return nil
}

// checkMessages: events' message frames are exactly want (by seq), each
// rendered the same.
func checkMessages(t *testing.T, who string, events []wstest.Frame, want []schemas.Message) {
	t.Helper()
	bySeq := map[int64]schemas.Message{}
	for _, m := range want {
		bySeq[m.Seq] = m
	}
	n := 0
	for _, f := range events {
		if f.Type != wstest.TypeMessage {
			continue
		}
		w, ok := bySeq[f.Message.Seq]
		if !ok {
			continue
		}
		n++
		if err := sameMessage(*f.Message, w); err != nil {
			t.Fatalf("%s: seq %d: %v", who, f.Message.Seq, err)
		}
	}
	if n != len(want) {
		t.Fatalf("%s: %d of the %d expected messages delivered", who, n, len(want))
	}
}

// readThenLeave connects u to base, checks it reads the 5 messages poster
// then posts (bodies "<label> i") in order, closes the socket, and returns
// those messages: the last one's seq is the since_seq of u's resume.
func (s *rtDev) readThenLeave(t *testing.T, who, base string, room schemas.ID, u, poster schemas.Session, label string) []schemas.Message {
	t.Helper()
	c := dialRT(t, who, base, room, u, -1, nil)
	snap := c.presence().Seq
	posted := s.mustPostMany(room, poster, 5, 1, func(i int) string { return fmt.Sprintf("%s %d", label, i) })
	last := lastSeqOf(posted)
	events, _ := c.eventsUntil(last, 30*time.Second)
	checkSeqRun(t, who, events, snap+1, last)
	_ = c.ws.Close()
	return posted
}

func lastSeqOf(msgs []schemas.Message) int64 {
	var m int64
	for _, x := range msgs {
		m = max(m, x.Seq)
	}
	return m
}

// history pages a room's messages forward from the API (the query
// service's projection), oldest first.
// history reads a room's messages after a message id through the query
// path. An error (say, 404 while the projector has not reached the room
// yet) is for the caller's eventually to retry.
func (s *rtDev) history(room schemas.ID, after schemas.ID) ([]schemas.Message, error) {
	s.t.Helper()
	var out []schemas.Message
	cursor := after.String()
	for {
		var page struct {
			Messages  []schemas.Message `json:"messages"`
			NextAfter *string           `json:"next_after"`
		}
		if st, _, b := s.call("GET", roomPath(room)+"/messages?limit=200&after="+cursor, "/v1/rooms/:id/messages", "", nil, &page); st != http.StatusOK {
			return nil, fmt.Errorf("history: %d %s", st, b)
		}
		out = append(out, page.Messages...)
		if page.NextAfter == nil {
			return out, nil
		}
		cursor = *page.NextAfter
	}
}

// TestRealtimeE2EFanOut: two rooms of 20 members, each member on its own
// socket; the members post concurrently, some through the socket's send
// frame and some over HTTP, while passers-by join, switch rooms and leave.
// Every socket gets every event of its room exactly once, in seq order with
// no gap, and nothing of the other room; every send is acked with the
// message delivered; bodies are softened as on the history path.
func TestRealtimeE2EFanOut(t *testing.T) {
	// Capacity above 20: the passers-by come on top of the 20 members.
	s := startRealtimeDev(t, map[string]string{"CHAT_ROOM_CAPACITY": "25"})
	const nRooms, nMembers, perMember = 2, 20, 7
	const profane = "well shit, congrats on the room"

	type member struct {
		u   schemas.Session
		c   *rtClient
		col *rtCollector
	}
	type fanRoom struct {
		id      schemas.ID
		members []*member
		snap    int64
		// passers-by: one joins, posts and leaves; one joins, posts and
		// switches to the other room, posts there and leaves.
		leaver, switcher schemas.Session
	}
	rooms := make([]*fanRoom, nRooms)
	for r := range rooms {
		rooms[r] = &fanRoom{id: s.openRoom(fmt.Sprintf("fan-out %d", r))}
		for j := range nMembers {
			rooms[r].members = append(rooms[r].members, &member{u: s.member(rooms[r].id, fmt.Sprintf("r%d-m%d 🐱", r, j))})
		}
		rooms[r].leaver = s.session(fmt.Sprintf("r%d leaver", r))
		rooms[r].switcher = s.session(fmt.Sprintf("r%d switcher", r))
	}
	for r, rm := range rooms {
		for j, m := range rm.members {
			m.c = dialRT(t, fmt.Sprintf("room %d member %d", r, j), s.base, rm.id, m.u, -1, nil)
			p := m.c.presence()
			if j == 0 {
				rm.snap = p.Seq
			}
			if p.Seq != rm.snap || len(p.Members) != nMembers {
				t.Fatalf("room %d member %d: presence at seq %d with %d members, want seq %d with %d", r, j, p.Seq, len(p.Members), rm.snap, nMembers)
			}
			ids := map[schemas.ID]bool{}
			for _, pm := range p.Members {
				ids[pm.UserID] = true
			}
			for _, o := range rm.members {
				if !ids[o.u.UserID] {
					t.Fatalf("room %d: presence lacks member %s", r, o.u.UserID)
				}
			}
		}
	}
	for _, rm := range rooms {
		for _, m := range rm.members {
			m.col = m.c.collect()
		}
	}

	// Everyone posts at once.
	var (
		mu      sync.Mutex
		errs    []error
		viaHTTP = map[schemas.ID][]schemas.Message{} // room → HTTP answers
		viaWS   = map[string]*member{}               // client_msg_id → the socket that sent it
		raw     = map[string]string{}                // client_msg_id → text as sent
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	httpPost := func(room schemas.ID, u schemas.Session, cmid, body string) {
		var m schemas.Message
		if err := rtPost(s.base, roomPath(room)+"/messages", u.Token, map[string]string{"body": body, "client_msg_id": cmid}, &m); err != nil {
			fail(err)
			return
		}
		mu.Lock()
		viaHTTP[room] = append(viaHTTP[room], m)
		raw[cmid] = body
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for r, rm := range rooms {
		for j, m := range rm.members {
			wg.Go(func() {
				for i := range perMember {
					cmid := fmt.Sprintf("r%d-m%d-%d-%s", r, j, i, testenv.RandomHex(4))
					body := fmt.Sprintf("room %d member %d message %d 😀", r, j, i)
					if i == 0 && j < 2 {
						body = profane // one sent on the socket, one over HTTP
					}
					if (i+j)%2 == 1 {
						httpPost(rm.id, m.u, cmid, body)
						continue
					}
					mu.Lock()
					viaWS[cmid], raw[cmid] = m, body
					mu.Unlock()
					b, _ := json.Marshal(sendFrame(cmid, body))
					if err := m.c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
						fail(fmt.Errorf("send on room %d member %d: %w", r, j, err))
						return
					}
				}
			})
		}
		other := rooms[(r+1)%nRooms].id
		wg.Go(func() {
			if err := rtPost(s.base, roomPath(rm.id)+"/join", rm.leaver.Token, nil, nil); err != nil {
				fail(err)
				return
			}
			httpPost(rm.id, rm.leaver, "leaver-"+testenv.RandomHex(4), "just passing by")
			if err := rtPost(s.base, roomPath(rm.id)+"/leave", rm.leaver.Token, nil, nil); err != nil {
				fail(err)
			}
		})
		wg.Go(func() {
			if err := rtPost(s.base, roomPath(rm.id)+"/join", rm.switcher.Token, nil, nil); err != nil {
				fail(err)
				return
			}
			httpPost(rm.id, rm.switcher, "switch-a-"+testenv.RandomHex(4), "here first")
			var jr schemas.JoinResult
			if err := rtPost(s.base, roomPath(other)+"/join", rm.switcher.Token, nil, &jr); err != nil {
				fail(err)
				return
			}
			httpPost(other, rm.switcher, "switch-b-"+testenv.RandomHex(4), "and now here")
			if err := rtPost(s.base, roomPath(other)+"/leave", rm.switcher.Token, nil, nil); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}

	// The room's head now: the seq of a fresh socket's presence.
	heads := make([]int64, nRooms)
	for r, rm := range rooms {
		probe := dialRT(t, fmt.Sprintf("room %d probe", r), s.base, rm.id, rm.members[0].u, -1, nil)
		p := probe.presence()
		if len(p.Members) != nMembers {
			t.Fatalf("room %d: %d members after the passers-by left, want %d", r, len(p.Members), nMembers)
		}
		heads[r] = p.Seq
		_ = probe.ws.Close()
	}
	// Every ack, then every event up to the head, on every socket.
	eventually(t, "every send acked", func() error {
		acked := 0
		for _, rm := range rooms {
			for _, m := range rm.members {
				frames, err := m.col.snapshot()
				if err != nil {
					t.Fatalf("%s: %v", m.c.name, err)
				}
				for _, f := range frames {
					if f.Type == rtAck || f.Type == rtError {
						acked++
					}
				}
			}
		}
		if acked < len(viaWS) {
			return fmt.Errorf("%d of %d sends answered", acked, len(viaWS))
		}
		return nil
	})
	for r, rm := range rooms {
		for _, m := range rm.members {
			m.col.waitSeq(t, heads[r])
		}
	}
	frames := make([][][]wstest.Frame, nRooms)
	for r, rm := range rooms {
		for _, m := range rm.members {
			frames[r] = append(frames[r], m.col.stop())
		}
	}

	// What each room must have delivered: the HTTP answers, the acks (checked
	// against the delivered messages below), the passers-by's comings and
	// goings.
	acks := map[string]wstest.Frame{}
	for r, rm := range rooms {
		for j, m := range rm.members {
			for _, f := range frames[r][j] {
				if f.Type == rtError {
					t.Fatalf("%s: error frame %s", m.c.name, f)
				}
				if f.Type != rtAck {
					continue
				}
				if viaWS[f.ClientMsgID] != m {
					t.Fatalf("%s: an ack for %q, which it did not send: %s", m.c.name, f.ClientMsgID, f)
				}
				if _, dup := acks[f.ClientMsgID]; dup {
					t.Fatalf("%s: a second ack for %q", m.c.name, f.ClientMsgID)
				}
				if f.Message == nil || f.Message.ClientMsgID != f.ClientMsgID || f.Message.RoomID != rm.id || f.Message.UserID != m.u.UserID {
					t.Fatalf("%s: ack %s", m.c.name, f)
				}
				acks[f.ClientMsgID] = f
			}
		}
	}
	if len(acks) != len(viaWS) {
		t.Fatalf("%d acks for %d sends", len(acks), len(viaWS))
	}
	for r, rm := range rooms {
		other := rooms[(r+1)%nRooms]
		want := map[schemas.ID]schemas.Message{}
		for _, m := range viaHTTP[rm.id] {
			want[m.ID] = m
		}
		for _, f := range acks {
			if f.Message.RoomID == rm.id {
				want[f.Message.ID] = *f.Message
			}
		}
		wantMembers := []string{
			"member_joined " + rm.leaver.UserID.String(),
			"member_left " + rm.leaver.UserID.String() + " left",
			"member_joined " + rm.switcher.UserID.String(),
			"member_left " + rm.switcher.UserID.String() + " switched",
			"member_joined " + other.switcher.UserID.String(),
			"member_left " + other.switcher.UserID.String() + " left",
		}
		slices.Sort(wantMembers)
		nicks := map[schemas.ID]string{}
		for _, u := range []schemas.Session{rm.leaver, rm.switcher, other.switcher} {
			nicks[u.UserID] = u.Nickname
		}
		for j, m := range rm.members {
			who := m.c.name
			events, others := splitFrames(t, who, rm.id, frames[r][j])
			checkSeqRun(t, who, events, rm.snap+1, heads[r])
			for _, f := range others {
				if f.Type != rtAck {
					t.Fatalf("%s: unexpected frame %s", who, f)
				}
			}
			var members []string
			messages := 0
			for _, f := range events {
				switch f.Type {
				case wstest.TypeMessage:
					messages++
					w, ok := want[f.Message.ID]
					if !ok {
						t.Fatalf("%s: a message nobody sent to this room: %s", who, f)
					}
					if err := sameMessage(*f.Message, w); err != nil {
						t.Fatalf("%s: %v", who, err)
					}
				case wstest.TypeJoined, wstest.TypeLeft:
					if nicks[f.UserID] != f.Nickname {
						t.Fatalf("%s: %s names %q, want %q", who, f, f.Nickname, nicks[f.UserID])
					}
					ev := f.Type + " " + f.UserID.String()
					if f.Type == wstest.TypeLeft {
						ev += " " + f.Reason
					}
					members = append(members, ev)
				default:
					t.Fatalf("%s: unexpected event %s", who, f)
				}
			}
			if messages != len(want) {
				t.Fatalf("%s: %d messages, want %d", who, messages, len(want))
			}
			slices.Sort(members)
			if !slices.Equal(members, wantMembers) {
				t.Fatalf("%s: member events %q, want %q", who, members, wantMembers)
			}
		}

		// The history path renders every message as the sockets did,
		// the profane ones softened alike.
		minID := slices.MinFunc(slices.Collect(maps.Values(want)), func(a, b schemas.Message) int { return cmp.Compare(a.ID, b.ID) }).ID
		var hist []schemas.Message
		eventually(t, fmt.Sprintf("room %d history complete", r), func() error {
			var err error
			if hist, err = s.history(rm.id, minID-1); err != nil {
				return err
			}
			if len(hist) < len(want) {
				return fmt.Errorf("%d of %d messages projected", len(hist), len(want))
			}
			return nil
		})
		if len(hist) != len(want) {
			t.Fatalf("room %d: history holds %d messages, want %d", r, len(hist), len(want))
		}
		softened := 0
		for _, h := range hist {
			if err := sameMessage(h, want[h.ID]); err != nil {
				t.Fatalf("room %d: history and socket differ: %v", r, err)
			}
			if raw[h.ClientMsgID] == profane {
				softened++
				if h.Body == profane || strings.Contains(strings.ToLower(h.Body), "shit") || !slices.Contains(h.Effects, "balloons") {
					t.Fatalf("room %d: profane message delivered as %q effects %v", r, h.Body, h.Effects)
				}
			}
		}
		if softened != 2 {
			t.Fatalf("room %d: %d profane messages, want 2", r, softened)
		}
		t.Logf("room %d: %d sockets each got seq %d..%d: %d messages (%d over HTTP) and %d member events, in order, once",
			r, len(rm.members), rm.snap+1, heads[r], len(want), len(viaHTTP[rm.id]), len(wantMembers))
	}
	checkNoGaps(t, s.base)
	// All-in-one: most of it came through local delivery (realtime/local.go),
	// ahead of the tail, and still exactly once and in order above.
	if local := s.metric("happychat_realtime_local_events_total"); local == 0 {
		t.Error("no event was delivered locally in the all-in-one mode")
	} else {
		left := map[string]float64{}
		for _, why := range []string{"delivered", "no_head", "ahead_full", "held", "queue_full", "keys"} {
			left[why] = s.metric(`happychat_realtime_local_events_skipped_total{reason="` + why + `"}`)
		}
		t.Logf("%v events delivered ahead of the tail, left to it: %v", local, left)
		// Each one timed: local_stage_seconds splits the delay after the
		// commit (docs/benchmarks.md). Timed before counted, and scraped
		// after: never fewer.
		if timed := s.metric(`happychat_realtime_local_stage_seconds_count{stage="dispatched"}`); timed < local {
			t.Errorf("%v local deliveries timed, want all %v", timed, local)
		}
		if handed := s.metric(`happychat_realtime_local_stage_seconds_count{stage="handed"}`); handed < local {
			t.Errorf("%v local events timed as handed over, want at least the %v delivered", handed, local)
		}
	}
}

// TestRealtimeE2EResume: a socket that reconnects with since_seq = the last
// seq it saw gets exactly what it missed, then live events, with nothing
// repeated or skipped at the seam — from a few events back (the ring) and
// from further back than the ring holds (the log), including seq 0.
func TestRealtimeE2EResume(t *testing.T) {
	s := startRealtimeDev(t, nil)
	const ring = `happychat_realtime_resumes_total{path="ring"}`
	const fromLog = `happychat_realtime_resumes_total{path="log"}`

	t.Run("recent", func(t *testing.T) {
		s := s.with(t)
		room := s.openRoom("resume recent")
		alice, bob := s.member(room, "alice"), s.member(room, "bob")
		// Bob stays connected throughout.
		watch := dialRT(t, "bob", s.base, room, bob, -1, nil)
		watchSnap := watch.presence().Seq
		watchCol := watch.collect()

		last := lastSeqOf(s.readThenLeave(t, "alice", s.base, room, alice, bob, "before"))

		missed := s.mustPostMany(room, bob, 10, 1, func(i int) string { return fmt.Sprintf("missed %d", i) })
		ringBefore, logBefore := s.metric(ring), s.metric(fromLog)
		// More arrive while alice reconnects.
		var during []schemas.Message
		var duringErr error
		posted := make(chan struct{})
		go func() {
			defer close(posted)
			during, duringErr = postMany(s.base, room, bob, 10, 1, func(i int) string { return fmt.Sprintf("during %d", i) })
		}()
		a2 := dialRT(t, "alice again", s.base, room, alice, last, nil)
		if p := a2.presence(); p.Seq < lastSeqOf(missed) {
			t.Fatalf("presence at seq %d, before the messages posted meanwhile (%d)", p.Seq, lastSeqOf(missed))
		}
		<-posted
		if duringErr != nil {
			t.Fatal(duringErr)
		}
		end := lastSeqOf(during)
		events, others := a2.eventsUntil(end, 30*time.Second)
		checkSeqRun(t, "alice resumed", events, last+1, end)
		checkMessages(t, "alice resumed", events, append(missed, during...))
		if len(others) > 0 {
			t.Fatalf("alice resumed: unexpected frames %v", others)
		}
		// A recent resume needs no log: it comes from the ring, or, when the
		// tail had not yet dispatched the missed messages as alice
		// reconnected (a loaded machine), it goes live and they arrive live.
		if got := s.metric(fromLog); got != logBefore {
			t.Errorf("a recent resume read the log (%s %v → %v)", fromLog, logBefore, got)
		}
		t.Logf("ring resumes %v → %v", ringBefore, s.metric(ring))
		// Then live.
		live := s.mustPostMany(room, bob, 3, 1, func(i int) string { return fmt.Sprintf("live %d", i) })
		events, _ = a2.eventsUntil(lastSeqOf(live), 30*time.Second)
		checkSeqRun(t, "alice live", events, end+1, lastSeqOf(live))
		checkMessages(t, "alice live", events, live)

		watchCol.waitSeq(t, lastSeqOf(live))
		events, _ = splitFrames(t, "bob", room, watchCol.stop())
		checkSeqRun(t, "bob", events, watchSnap+1, lastSeqOf(live))
	})

	t.Run("beyond the ring", func(t *testing.T) {
		s := s.with(t)
		// A proposed then approved room: its first events are room events.
		carol := s.session("carol")
		var proposed schemas.Room
		if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", carol.Token, map[string]string{"title": "resume old", "description": "proposal"}, &proposed); st != http.StatusAccepted {
			t.Fatalf("propose: %d %s", st, b)
		}
		room := proposed.ID
		if st, _, b := s.call("POST", roomPath(room)+"/approve", "/v1/rooms/:id/approve", e2eAdmin, nil, nil); st != http.StatusOK {
			t.Fatalf("approve: %d %s", st, b)
		}
		alice, bob := s.member(room, "alice"), s.member(room, "bob")
		s.join(room, carol)
		// Carol's socket keeps the room tracked, so the ring holds the
		// newest events — not the old ones.
		warm := dialRT(t, "carol", s.base, room, carol, -1, nil)
		warmSnap := warm.presence().Seq
		warmCol := warm.collect()

		old := s.mustPostMany(room, bob, 320, 8, func(i int) string { return fmt.Sprintf("old %d", i) })
		mid := lastSeqOf(old)
		warmCol.waitSeq(t, mid)

		logBefore := s.metric(fromLog)
		var live []schemas.Message
		var liveErr error
		posted := make(chan struct{})
		go func() {
			defer close(posted)
			live, liveErr = postMany(s.base, room, bob, 20, 2, func(i int) string { return fmt.Sprintf("live %d", i) })
		}()
		x := dialRT(t, "alice from 0", s.base, room, alice, 0, nil)
		y := dialRT(t, "bob from 5", s.base, room, bob, 5, nil)
		x.presence()
		y.presence()
		<-posted
		if liveErr != nil {
			t.Fatal(liveErr)
		}
		end := lastSeqOf(live)
		evX, othersX := x.eventsUntil(end, 60*time.Second)
		checkSeqRun(t, "alice from 0", evX, 1, end)
		evY, othersY := y.eventsUntil(end, 60*time.Second)
		checkSeqRun(t, "bob from 5", evY, 6, end)
		if len(othersX)+len(othersY) > 0 {
			t.Fatalf("unexpected frames %v %v", othersX, othersY)
		}
		checkMessages(t, "alice from 0", evX, append(old, live...))
		checkMessages(t, "bob from 5", evY, append(old, live...))
		// Before the joins, the room's own events, as room_event frames.
		var roomEvents []string
		joins := map[schemas.ID]bool{}
		for _, f := range evX {
			switch f.Type {
			case wstest.TypeRoomEvent:
				if len(joins) > 0 {
					t.Fatalf("a room event after the joins: %s", f)
				}
				roomEvents = append(roomEvents, f.Event)
			case wstest.TypeJoined:
				joins[f.UserID] = true
			}
		}
		if !slices.Contains(roomEvents, "room.approved") || !joins[alice.UserID] || !joins[bob.UserID] || !joins[carol.UserID] {
			t.Fatalf("room events %q, joins %v", roomEvents, joins)
		}
		if got := s.metric(fromLog); got < logBefore+2 {
			t.Errorf("the resumes did not read the log (%s %v → %v)", fromLog, logBefore, got)
		}

		// Then live on both.
		more := s.mustPostMany(room, bob, 3, 1, func(i int) string { return fmt.Sprintf("more %d", i) })
		for _, c := range []*rtClient{x, y} {
			events, _ := c.eventsUntil(lastSeqOf(more), 30*time.Second)
			checkSeqRun(t, c.name+" live", events, end+1, lastSeqOf(more))
		}
		warmCol.waitSeq(t, lastSeqOf(more))
		events, _ := splitFrames(t, "carol", room, warmCol.stop())
		checkSeqRun(t, "carol", events, warmSnap+1, lastSeqOf(more))
	})
	checkNoGaps(t, s.base)
}

// TestRealtimeE2ESecondInstance: a client reads on instance A (the dev
// server), disconnects, and resumes on instance B — a split `happychat
// realtime` that talks to the command service over HTTP — with since_seq:
// it gets everything it missed, then its sends through B's socket are acked
// and reach sockets on A, and B's own sockets ahead of its tail.
func TestRealtimeE2ESecondInstance(t *testing.T) {
	s := startRealtimeDev(t, nil)
	b := s.startSplitRealtime(t)
	room := s.openRoom("two instances")
	alice, bob, carol := s.member(room, "alice"), s.member(room, "bob"), s.member(room, "carol")

	carolA := dialRT(t, "carol on A", s.base, room, carol, -1, nil)
	carolSnap := carolA.presence().Seq
	carolCol := carolA.collect()

	first := s.readThenLeave(t, "alice on A", s.base, room, alice, bob, "on A")
	last := lastSeqOf(first)

	missed := s.mustPostMany(room, bob, 20, 4, func(i int) string { return fmt.Sprintf("missed %d", i) })
	aliceB := dialRT(t, "alice on B", b, room, alice, last, nil)
	p := aliceB.presence()
	if len(p.Members) != 3 || p.Seq < lastSeqOf(missed) {
		t.Fatalf("presence on B: %s", p)
	}
	events, others := aliceB.eventsUntil(lastSeqOf(missed), 30*time.Second)
	checkSeqRun(t, "alice on B", events, last+1, lastSeqOf(missed))
	checkMessages(t, "alice on B", events, missed)
	if len(others) > 0 {
		t.Fatalf("alice on B: unexpected frames %v", others)
	}
	// B had never served the room, so alice caught up rather than going
	// live at once: usually from the log, or from B's ring when B's tail was
	// still behind and dispatched the missed events after alice's handshake
	// began (on a loaded machine).
	fromLog, err1 := rtMetric(b, `happychat_realtime_resumes_total{path="log"}`)
	fromRing, err2 := rtMetric(b, `happychat_realtime_resumes_total{path="ring"}`)
	if err := errors.Join(err1, err2); err != nil || fromLog+fromRing != 1 {
		t.Errorf("B's resumes: %v from the log, %v from the ring (%v), want 1 in all", fromLog, fromRing, err)
	}
	resumedTo := lastSeqOf(missed)

	// Live: alice sends through B's socket while bob posts over HTTP.
	colB := aliceB.collect()
	const sends = 6
	var bobLive []schemas.Message
	var bobErr error
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		bobLive, bobErr = postMany(s.base, room, bob, 5, 1, func(i int) string { return fmt.Sprintf("bob live %d", i) })
	}()
	cmids := map[string]string{}
	for i := range sends {
		cmid := fmt.Sprintf("via-b-%d-%s", i, testenv.RandomHex(4))
		body := fmt.Sprintf("from B %d", i)
		if i == 2 {
			body = "holy shit it works"
		}
		cmids[cmid] = body
		aliceB.sendJSON(sendFrame(cmid, body))
	}
	<-posted
	if bobErr != nil {
		t.Fatal(bobErr)
	}
	var acks []wstest.Frame
	eventually(t, "acks on B", func() error {
		frames, err := colB.snapshot()
		if err != nil {
			t.Fatalf("alice on B: %v", err)
		}
		acks = acks[:0]
		for _, f := range frames {
			switch f.Type {
			case rtAck:
				acks = append(acks, f)
			case rtError:
				t.Fatalf("alice on B: %s", f)
			}
		}
		if len(acks) < sends {
			return fmt.Errorf("%d of %d acks", len(acks), sends)
		}
		return nil
	})
	end := lastSeqOf(bobLive)
	acked := map[string]schemas.Message{}
	for _, f := range acks {
		if _, ok := cmids[f.ClientMsgID]; !ok || f.Message == nil || f.Message.ClientMsgID != f.ClientMsgID {
			t.Fatalf("ack %s", f)
		}
		if _, dup := acked[f.ClientMsgID]; dup {
			t.Fatalf("two acks for %s", f.ClientMsgID)
		}
		acked[f.ClientMsgID] = *f.Message
		end = max(end, f.Message.Seq)
	}
	colB.waitSeq(t, end)
	carolCol.waitSeq(t, end)
	live := slices.Collect(maps.Values(acked))
	for _, tc := range []struct {
		who   string
		col   *rtCollector
		from  int64
		check []schemas.Message
	}{
		{"alice on B", colB, resumedTo + 1, append(live, bobLive...)},
		{"carol on A", carolCol, carolSnap + 1, append(append(slices.Clone(first), missed...), append(live, bobLive...)...)},
	} {
		events, _ := splitFrames(t, tc.who, room, tc.col.stop())
		checkSeqRun(t, tc.who, events, tc.from, end)
		checkMessages(t, tc.who, events, tc.check)
	}
	for cmid, m := range acked {
		if want := cmids[cmid]; want == "holy shit it works" {
			if m.Body == want || strings.Contains(m.Body, "shit") {
				t.Fatalf("the ack through B carries an unsoftened body %q", m.Body)
			}
		} else if m.Body != want {
			t.Fatalf("ack body %q, want %q", m.Body, want)
		}
	}
	checkNoGaps(t, s.base)
	checkNoGaps(t, b)
	// alice's sends were answered with their committed records
	// (cmdproto.CommittedHeader), which B hands to local delivery: each is
	// dispatched ahead of B's tail, or left to the tail because it came
	// first (on a loaded machine it may win all six races), and still
	// exactly once and in order above.
	var handed float64
	var errs []error
	for _, series := range []string{
		"happychat_realtime_local_events_total",
		`happychat_realtime_local_events_skipped_total{reason="delivered"}`,
	} {
		v, err := rtMetric(b, series)
		handed += v
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil || handed == 0 {
		t.Errorf("B handed %v events of the send answers to local delivery (%v): their records were not used", handed, err)
	}
}

// TestRealtimeE2ESlowReader: a socket that stops reading in a busy room
// (a tiny TCP receive buffer) is cut off with 4008 once its send queue
// overflows — reading again, it gets the frames that had reached it, in
// order, then the close frame — while the other sockets get everything in
// order; it resumes with since_seq and gets the rest with no gap.
func TestRealtimeE2ESlowReader(t *testing.T) {
	// A small queue keeps the test short; the batches below stay well
	// under it, so the readers that keep up are never cut.
	const queue, batch, fastN = 64, 16, 3
	// A bounded kernel send buffer (CHAT_WS_SEND_BUFFER) as well: left to
	// itself, the kernel may grow it to megabytes for this socket, and on a
	// loaded machine the queue then never saw the backlog (CI once posted
	// 3,000 messages into it without a cut).
	// And a write timeout far longer than the test: on a loaded machine
	// (CI once at load 14) the 64 frames that overflow the queue can take
	// more than the default 10 s to post, and the blocked write's deadline
	// then closes the socket before its queue overflows.
	s := startRealtimeDev(t, map[string]string{"CHAT_WS_SEND_QUEUE": strconv.Itoa(queue), "CHAT_WS_SEND_BUFFER": "16384", "CHAT_WS_WRITE_TIMEOUT": "30m"})
	const drops = "happychat_realtime_send_queue_drops_total"
	room := s.openRoom("slow reader")
	writer, slowU := s.member(room, "writer"), s.member(room, "slow")
	fastU := make([]schemas.Session, fastN)
	for i := range fastU {
		fastU[i] = s.member(room, fmt.Sprintf("fast %d", i))
	}

	// The slow client is a reader across a real network: a small receive
	// buffer and an internet-sized MSS, both set before the handshake so that
	// its window is small from the start. (Over loopback the MSS is 64 KiB,
	// and the server's kernel would size its send buffer from it — megabytes
	// — before the send queue saw any backlog.)
	small := &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = errors.Join(
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096),
					syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1400))
			})
			return errors.Join(err, serr)
		}}).DialContext,
	}
	slow := dialRT(t, "slow", s.base, room, slowU, -1, small)
	fast := make([]*rtCollector, fastN)
	var snap int64
	for i, u := range fastU {
		c := dialRT(t, fmt.Sprintf("fast %d", i), s.base, room, u, -1, nil)
		snap = c.presence().Seq
		fast[i] = c.collect()
	}

	// The moment the server cuts the slow socket (the drops metric), it
	// starts reading again: what reached it, then the close. (The server
	// drops the queue of a slow consumer rather than flush it, and gives up
	// on the close frame if the client still reads nothing a couple of
	// seconds later; docs/realtime.md.)
	cut := make(chan struct{})
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if v, err := rtMetric(s.base, drops); err == nil && v >= 1 {
				close(cut)
				return
			}
		}
	}()
	type slowResult struct {
		frames []wstest.Frame
		code   int
		err    error
	}
	slowDone := make(chan slowResult, 1)
	go func() {
		select {
		case <-cut:
		case <-stopWatch:
			slowDone <- slowResult{err: errors.New("never cut")}
			return
		}
		frames, code, err := readToClose(slow.ws, 30*time.Second)
		slowDone <- slowResult{frames, code, err}
	}()

	// Large frames (1990 code points of 4 bytes each) fill the slow socket's
	// kernel buffers, then its queue; the room keeps going in batches that
	// the fast readers take before the next.
	body := strings.Repeat("😀", 1990)
	var end int64
	posted := 0
	for cutSeen := false; !cutSeen; {
		if posted > 3000 {
			t.Fatalf("the slow socket was not cut off after %d messages", posted)
		}
		msgs := s.mustPostMany(room, writer, batch, batch, func(int) string { return body })
		posted += batch
		end = lastSeqOf(msgs)
		for _, col := range fast {
			col.waitSeq(t, end)
		}
		select {
		case <-cut:
			cutSeen = true
		default:
		}
	}
	// One more batch after the cut: the room does not wait for anyone.
	after := s.mustPostMany(room, writer, batch, 4, func(i int) string { return fmt.Sprintf("after the cut %d", i) })
	end = lastSeqOf(after)
	for i, col := range fast {
		col.waitSeq(t, end)
		events, _ := splitFrames(t, fmt.Sprintf("fast %d", i), room, col.stop())
		checkSeqRun(t, fmt.Sprintf("fast %d", i), events, snap+1, end)
	}

	var res slowResult
	select {
	case res = <-slowDone:
	case <-time.After(90 * time.Second):
		t.Fatal("the slow socket did not end")
	}
	if len(res.frames) == 0 || res.frames[0].Type != rtPresence || res.frames[0].Seq != snap {
		t.Fatalf("slow: the first frame is not the presence at seq %d (%d frames)", snap, len(res.frames))
	}
	events, others := splitFrames(t, "slow", room, res.frames[1:])
	if len(others) > 0 {
		t.Fatalf("slow: unexpected frames %v", others)
	}
	seen := lastEventSeq(events)
	if seen == 0 {
		seen = snap
	}
	checkSeqRun(t, "slow before the cut", events, snap+1, seen)
	if seen >= end {
		t.Fatalf("slow: read everything (seq %d) although it was cut off", seen)
	}
	t.Logf("slow socket: cut after %d messages posted; it read %d events, then close code %d (%v)", posted, len(events), res.code, res.err)
	// The server closes it with 4008. The client reads that close frame if
	// it drains its buffers within the close grace; on a loaded machine it
	// may start reading later, and then the connection just ends (1006), as
	// docs/realtime.md says. Either way the server's own count names 4008.
	if res.code != rtCloseSlowConsumer && res.code != websocket.CloseAbnormalClosure {
		t.Errorf("slow socket ended with close code %d (%v), want %d (or 1006 if it read too late)", res.code, res.err, rtCloseSlowConsumer)
	}
	eventually(t, "the server closed one socket with 4008", func() error {
		v, err := rtMetric(s.base, `happychat_realtime_connections_closed_total{code="4008"}`)
		if err != nil {
			return err
		}
		if v != 1 {
			return fmt.Errorf("%v sockets closed with 4008, want 1", v)
		}
		return nil
	})
	if got := s.metric(drops); got != 1 {
		t.Errorf("%s = %v, want 1: only the slow socket is cut", drops, got)
	}

	// It resumes from what it saw and gets the rest, then live events.
	again := dialRT(t, "slow again", s.base, room, slowU, seen, nil)
	again.presence()
	events, _ = again.eventsUntil(end, 60*time.Second)
	checkSeqRun(t, "slow resumed", events, seen+1, end)
	checkMessages(t, "slow resumed", events, after)
	live := s.post(room, writer, "still here")
	events, _ = again.eventsUntil(live.Seq, 30*time.Second)
	checkSeqRun(t, "slow live", events, end+1, live.Seq)
	checkNoGaps(t, s.base)
}

// errorEnvelope checks a frame is exactly the contract's error frame:
// {"type":"error","client_msg_id"?,"error":{"code","message"}}.
func errorEnvelope(f wstest.Frame, code schemas.Code, cmid string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(f.Raw, &m); err != nil {
		return err
	}
	for k := range m {
		if k != "type" && k != "client_msg_id" && k != "error" {
			return fmt.Errorf("unexpected member %q in %s", k, f)
		}
	}
	var e map[string]any
	if err := json.Unmarshal(m["error"], &e); err != nil || len(e) != 2 {
		return fmt.Errorf("error member %s", m["error"])
	}
	if msg, ok := e["message"].(string); !ok || msg == "" {
		return fmt.Errorf("error message in %s", f)
	}
	if f.Type != rtError || f.Error == nil || f.Error.Code != code {
		return fmt.Errorf("got %s, want an error frame %s", f, code)
	}
	if _, has := m["client_msg_id"]; has != (cmid != "") || f.ClientMsgID != cmid {
		return fmt.Errorf("client_msg_id %q (present: %v), want %q: %s", f.ClientMsgID, has, cmid, f)
	}
	return nil
}

// TestRealtimeE2EHostileFrames: each hostile frame on its own socket gets
// the documented answer — an error frame and the socket stays usable, or
// the documented close — and the server keeps serving everyone else.
func TestRealtimeE2EHostileFrames(t *testing.T) {
	s := startRealtimeDev(t, map[string]string{"CHAT_ROOM_CAPACITY": "40"})
	room := s.openRoom("hostile")
	poster := s.member(room, "poster")
	watcher := s.member(room, "watcher")
	w := dialRT(t, "watcher", s.base, room, watcher, -1, nil)
	wSnap := w.presence().Seq
	wCol := w.collect()

	errorCases := []struct {
		name  string
		frame string
		id    string // the client_msg_id the error frame names
	}{
		{"not JSON", `hello`, ""},
		{"truncated JSON", `{"type":"send","body":"x","client_msg_id":"t1"`, ""},
		{"JSON array", `[{"type":"ping"}]`, ""},
		{"JSON null", `null`, ""},
		{"unknown type", `{"type":"subscribe","client_msg_id":"u1"}`, "u1"},
		{"no type", `{"body":"x"}`, ""},
		// docs/realtime.md: client_msg_id "is omitted from an error frame when
		// the frame it answers had none that could be read" — this one has one.
		{"no type, with a client_msg_id", `{"body":"x","client_msg_id":"u0"}`, "u0"},
		{"send without client_msg_id", `{"type":"send","body":"x"}`, ""},
		{"send without body", `{"type":"send","client_msg_id":"u2"}`, "u2"},
		{"send with an unknown member", `{"type":"send","body":"x","client_msg_id":"u3","room":"1"}`, "u3"},
		{"send with a mistyped body", `{"type":"send","body":["x"],"client_msg_id":"u4"}`, "u4"},
		{"send with a body too long", `{"type":"send","body":"` + strings.Repeat("가", 2001) + `","client_msg_id":"u5"}`, "u5"},
		{"send with an invalid client_msg_id", `{"type":"send","body":"x","client_msg_id":"no spaces allowed"}`, "no spaces allowed"},
	}
	for i, tc := range errorCases {
		t.Run("error frame/"+tc.name, func(t *testing.T) {
			s := s.with(t)
			u := s.member(room, fmt.Sprintf("bad frame %d", i))
			c := dialRT(t, tc.name, s.base, room, u, -1, nil)
			c.presence()
			if err := c.ws.WriteMessage(websocket.TextMessage, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			f := c.mustRead(20 * time.Second)
			if err := errorEnvelope(f, schemas.CodeBadRequest, tc.id); err != nil {
				t.Fatal(err)
			}
			// Still usable: a ping, then a send.
			c.sendJSON(map[string]string{"type": "ping"})
			if f := c.mustRead(20 * time.Second); f.Type != rtPong {
				t.Fatalf("after the error frame, a ping got %s", f)
			}
			cmid := "ok-" + testenv.RandomHex(4)
			c.sendJSON(sendFrame(cmid, "fine after "+tc.name))
			var ack, ev *wstest.Frame
			for ack == nil || ev == nil {
				f := c.mustRead(20 * time.Second)
				switch {
				case f.Type == rtAck && f.ClientMsgID == cmid:
					ack = &f
				case f.Type == wstest.TypeMessage && f.Message.ClientMsgID == cmid:
					ev = &f
				default:
					t.Fatalf("unexpected frame %s", f)
				}
			}
			if err := sameMessage(*ack.Message, *ev.Message); err != nil {
				t.Fatal(err)
			}
		})
	}

	closeCases := []struct {
		name string
		mt   int
		data []byte
		want int
	}{
		{"oversized frame", websocket.TextMessage, []byte(`{"type":"send","body":"` + strings.Repeat("a", 16<<10) + `","client_msg_id":"big"}`), rtCloseTooBig},
		{"invalid UTF-8", websocket.TextMessage, []byte("{\"type\":\"send\",\"body\":\"\xff\xfe\",\"client_msg_id\":\"utf\"}"), rtCloseInvalidPayload},
		{"binary frame", websocket.BinaryMessage, []byte(`{"type":"ping"}`), rtCloseUnsupportedData},
	}
	for i, tc := range closeCases {
		t.Run("close/"+tc.name, func(t *testing.T) {
			s := s.with(t)
			u := s.member(room, fmt.Sprintf("closer %d", i))
			c := dialRT(t, tc.name, s.base, room, u, -1, nil)
			c.presence()
			if err := c.ws.WriteMessage(tc.mt, tc.data); err != nil {
				t.Fatal(err)
			}
			frames, code, err := readToClose(c.ws, 20*time.Second)
			if code != tc.want {
				t.Fatalf("close code %d (%v), want %d; frames %v", code, err, tc.want, frames)
			}
			for _, f := range frames {
				if !f.IsEvent() {
					t.Fatalf("unexpected frame before the close: %s", f)
				}
			}
		})
	}

	t.Run("close/frame flood", func(t *testing.T) {
		s := s.with(t)
		u := s.member(room, "flooder")
		c := dialRT(t, "flooder", s.base, room, u, -1, nil)
		c.presence()
		flooded := make(chan int, 1)
		go func() {
			n := 0
			for ; n < 300; n++ {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
					break
				}
			}
			flooded <- n
		}()
		frames, code, err := readToClose(c.ws, 30*time.Second)
		<-flooded
		if code != rtClosePolicyViolation {
			t.Fatalf("close code %d (%v), want %d", code, err, rtClosePolicyViolation)
		}
		pongs, limited := 0, 0
		for _, f := range frames {
			switch f.Type {
			case rtPong:
				if limited > 0 {
					// A token refilled meanwhile: allowed again.
					t.Logf("a pong after %d rate_limited frames", limited)
				}
				pongs++
			case rtError:
				if err := errorEnvelope(f, schemas.CodeRateLimited, ""); err != nil {
					t.Fatal(err)
				}
				limited++
			default:
				if !f.IsEvent() {
					t.Fatalf("unexpected frame %s", f)
				}
			}
		}
		// 20 frames/s with a burst of 40 (docs/realtime.md): the burst is
		// answered, then rate_limited errors, then 1008 after more than a
		// burst's worth in a row.
		if pongs < 40 || limited < 40 {
			t.Fatalf("%d pongs and %d rate_limited errors before the close, want at least 40 of each", pongs, limited)
		}
	})

	// The server keeps serving: the watcher saw every event, and a fresh
	// socket gets deliveries.
	u := s.member(room, "newcomer")
	c := dialRT(t, "newcomer", s.base, room, u, -1, nil)
	snap := c.presence().Seq
	m := s.post(room, poster, "after the storm")
	events, _ := c.eventsUntil(m.Seq, 30*time.Second)
	checkSeqRun(t, "newcomer", events, snap+1, m.Seq)
	checkMessages(t, "newcomer", events, []schemas.Message{m})
	wCol.waitSeq(t, m.Seq)
	events, others := splitFrames(t, "watcher", room, wCol.stop())
	checkSeqRun(t, "watcher", events, wSnap+1, m.Seq)
	if len(others) > 0 {
		t.Fatalf("watcher: unexpected frames %v", others)
	}
	checkNoGaps(t, s.base)
}

// TestRealtimeE2ERefusals: handshakes the service must refuse before the
// upgrade, each with its status and the contract's error envelope (and the
// OpenAPI document's shape), never echoing the token.
func TestRealtimeE2ERefusals(t *testing.T) {
	s := startRealtimeDev(t, nil)
	room := s.openRoom("members only")
	otherRoom := s.openRoom("elsewhere")
	member := s.member(room, "member")
	outsider := s.session("outsider")
	elsewhere := s.member(otherRoom, "elsewhere")
	former := s.member(room, "former")
	s.leave(room, former)
	foreignKeys, err := token.New("another-deployment-secret-0123456789", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := foreignKeys.Issue(member.UserID, member.Nickname)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.base, "http://")
	_, portStr, _ := net.SplitHostPort(host)
	port, _ := strconv.Atoi(portStr)

	q := func(room schemas.ID, tok string) string {
		v := url.Values{"room": {room.String()}}
		if tok != "" {
			v.Set("token", tok)
		}
		return v.Encode()
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		query  string
		header http.Header
		status int
		code   schemas.Code
		secret string // must not appear in the answer
	}{
		{"not a member", q(room, outsider.Token), nil, 403, schemas.CodeForbidden, outsider.Token},
		{"member of another room", q(room, elsewhere.Token), nil, 403, schemas.CodeForbidden, elsewhere.Token},
		{"former member", q(room, former.Token), nil, 403, schemas.CodeForbidden, former.Token},
		{"not a member, bearer header", q(room, ""), hdr("Authorization", "Bearer "+outsider.Token), 403, schemas.CodeForbidden, outsider.Token},
		{"no token", q(room, ""), nil, 401, schemas.CodeUnauthorized, ""},
		{"invalid token", q(room, "not-a-token"), nil, 401, schemas.CodeUnauthorized, "not-a-token"},
		{"token of another secret", q(room, forged), nil, 401, schemas.CodeUnauthorized, forged},
		{"invalid bearer header", q(room, ""), hdr("Authorization", "Bearer not-a-token"), 401, schemas.CodeUnauthorized, "not-a-token"},
		{"unknown room", q(schemas.ID(4242), member.Token), nil, 404, schemas.CodeNotFound, member.Token},
		{"room is not an id", "room=lobby&token=" + url.QueryEscape(member.Token), nil, 400, schemas.CodeBadRequest, member.Token},
		{"negative since_seq", q(room, member.Token) + "&since_seq=-1", nil, 400, schemas.CodeBadRequest, member.Token},
		{"disallowed origin", q(room, member.Token), hdr("Origin", "https://evil.example"), 403, schemas.CodeForbidden, member.Token},
		{"origin on another port", q(room, member.Token), hdr("Origin", fmt.Sprintf("http://127.0.0.1:%d", port+1)), 403, schemas.CodeForbidden, member.Token},
		{"origin with another scheme", q(room, member.Token), hdr("Origin", "ws://"+host), 403, schemas.CodeForbidden, member.Token},
	}
	wsBase := "ws://" + host + "/v1/ws?"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, resp, err := websocket.DefaultDialer.Dial(wsBase+tc.query, tc.header)
			if err == nil {
				ws.Close()
				t.Fatalf("upgraded, want %d", tc.status)
			}
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			var env schemas.ErrorBody
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code != tc.code || env.Error.Message == "" {
				t.Fatalf("answer %s, want the error envelope with %s", body, tc.code)
			}
			if err := s.doc.ValidateResponse("GET", "/v1/ws", resp.StatusCode, resp.Header, body); err != nil {
				t.Fatalf("answered outside the OpenAPI document: %v\n%s", err, body)
			}
			if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Fatalf("refusal carries upgrade headers: %v", resp.Header)
			}
			if tc.secret != "" && strings.Contains(string(body), tc.secret) {
				t.Fatalf("the answer echoes the token: %s", body)
			}
		})
	}

	// The member gets in: with ?token= and its own origin, and with the
	// bearer header.
	for _, h := range []http.Header{hdr("Origin", "http://"+host), nil} {
		query := q(room, member.Token)
		if h == nil {
			query, h = q(room, ""), hdr("Authorization", "Bearer "+member.Token)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(wsBase+query, h)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("member refused (%d): %v", status, err)
		}
		c := &rtClient{t: t, name: "member", room: room, ws: ws}
		p := c.presence()
		if len(p.Members) != 1 || p.Members[0].UserID != member.UserID {
			t.Fatalf("presence %s", p)
		}
		ws.Close()
	}
}
