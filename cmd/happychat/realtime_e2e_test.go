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
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/testenv"
	"happychat/internal/wstest"
	"happychat/query/openapi"
	"happychat/schemas"
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
