package realtime

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/internal/wstest"
	"happychat/schemas"
)

// streamRequest is GET /v1/rooms/{room}/events (since < 0: no since_seq;
// lastEventID "": no header).
func (in *instance) streamRequest(t *testing.T, room schemas.ID, tok string, since int64, lastEventID string) *http.Response {
	t.Helper()
	q := url.Values{}
	if tok != "" {
		q.Set("token", tok)
	}
	if since >= 0 {
		q.Set("since_seq", strconv.FormatInt(since, 10))
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, in.srv.URL+"/v1/rooms/"+room.String()+"/events?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// stream opens an SSE stream and fails the test unless it opens.
func (in *instance) stream(t *testing.T, room schemas.ID, tok string, since int64, lastEventID string) *client {
	t.Helper()
	resp := in.streamRequest(t, room, tok, since, lastEventID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		resp.Body.Close()
		t.Fatalf("stream: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := wstest.NewSSE(resp.Body)
	t.Cleanup(func() { _ = s.Close() })
	return &client{t: t, sse: s}
}

// SSE resume across reconnects, interleaved with sockets in the same room:
// a stream reads part of the room, goes away while the sockets keep
// sending, and comes back by Last-Event-ID (the browser's reconnect, with
// the first request's stale since_seq still in the URL): from memory on
// the same instance, from the log on a fresh one. Every client sees every
// event once, in order.
func TestSSEResumeInterleavedWithSockets(t *testing.T) {
	e := newEnv(t, 2)
	in := e.start(func(c *Config) { c.UserSendBurst = 100 })
	room := e.cmds.createRoomOn(1)
	alice, bob, carol := e.member(room, "alice"), e.member(room, "bob"), e.member(room, "carol")

	a := in.dial(t, room, alice.tok, -1)
	snap := a.presence().Seq
	b := in.dial(t, room, bob.tok, snap)
	b.presence()
	first := in.stream(t, room, carol.tok, snap, "")
	if p := first.presence(); p.Seq != snap || len(p.Members) != 3 {
		t.Fatalf("stream presence: seq %d, %d members", p.Seq, len(p.Members))
	}

	// Sends from both sockets, interleaved.
	send := func(n int, tag string) {
		var wg sync.WaitGroup
		for i, c := range []*client{a, b} {
			wg.Go(func() {
				for j := range n {
					c.sendJSON(map[string]string{"type": "send", "body": fmt.Sprintf("%s %d-%d", tag, i, j), "client_msg_id": fmt.Sprintf("%s-%d-%d", tag, i, j)})
				}
			})
		}
		wg.Wait()
	}
	send(10, "before")
	mid := snap + 20
	events, _ := first.eventsUntil(mid, 30*time.Second)
	checkContiguous(t, "stream before the cut", events, snap+1, mid)
	seen := lastSeq(events)
	_ = first.sse.Close()

	send(10, "while away")
	end := mid + 20
	for name, c := range map[string]*client{"alice": a, "bob": b} {
		evs, _ := c.eventsUntil(end, 30*time.Second)
		checkContiguous(t, name, evs, snap+1, end)
	}

	t.Run("memory", func(t *testing.T) {
		c := in.stream(t, room, carol.tok, snap, strconv.FormatInt(seen, 10))
		if p := c.presence(); p.Seq != end {
			t.Fatalf("presence seq %d, want %d", p.Seq, end)
		}
		evs, _ := c.eventsUntil(end, 30*time.Second)
		checkContiguous(t, "resumed stream", evs, seen+1, end)
		// Then live, with the sockets.
		send(1, "live")
		evs, _ = c.eventsUntil(end+2, 30*time.Second)
		checkContiguous(t, "live stream", evs, end+1, end+2)
		if f, err := c.read(300 * time.Millisecond); err == nil && f.EventSeq() > 0 {
			t.Fatalf("an event after the last one: %s", f)
		}
	})
	t.Run("log", func(t *testing.T) {
		// A fresh instance has nothing of the room in memory: the resume
		// reads the log, through the sockets' shared readers.
		other := e.start(nil)
		head := e.cmds.head(room)
		c := other.stream(t, room, carol.tok, -1, strconv.FormatInt(seen, 10))
		c.presence()
		evs, _ := c.eventsUntil(head, 60*time.Second)
		checkContiguous(t, "stream resumed from the log", evs, seen+1, head)
		if got := testutil.ToFloat64(other.svc.m.resumes.WithLabelValues("log")); got != 1 {
			t.Fatalf("resumes from the log: %v", got)
		}
	})
	if got := testutil.ToFloat64(in.svc.m.gaps); got != 0 {
		t.Fatalf("seq gaps: %v", got)
	}
}

// A stream takes the socket's limits: the per-user cap counts streams and
// sockets together, a slow stream is cut with the socket's close code (as
// the stream's last event) and resumes by seq, and the keepalive is a
// comment.
func TestSSELimits(t *testing.T) {
	e := newEnv(t, 1)
	in := e.start(func(c *Config) {
		c.MaxConnsPerUser = 2
		c.SendQueue = 8
		c.PingInterval, c.IdleTimeout = 200*time.Millisecond, 10*time.Second
	})
	room := e.cmds.createRoom()
	dana, erin := e.member(room, "dana"), e.member(room, "erin")

	t.Run("per-user cap across transports", func(t *testing.T) {
		ws := in.dial(t, room, dana.tok, -1)
		ws.presence()
		st := in.stream(t, room, dana.tok, -1, "")
		st.presence()
		resp := in.streamRequest(t, room, dana.tok, -1, "")
		defer resp.Body.Close()
		checkRefusal(t, resp, http.StatusTooManyRequests, schemas.CodeRateLimited)
		_ = ws.ws.Close()
		_ = st.sse.Close()
	})

	t.Run("keepalive", func(t *testing.T) {
		st := in.stream(t, room, erin.tok, -1, "")
		st.presence()
		time.Sleep(time.Second) // five ping intervals
		_ = st.sse.Close()
		for {
			if _, err := st.sse.Next(time.Second); err != nil {
				break
			}
		}
		if st.sse.Comments < 2 {
			t.Fatalf("%d keepalive comments", st.sse.Comments)
		}
	})

	t.Run("slow stream", func(t *testing.T) {
		// erin's stream is opened and never read; the room goes on.
		resp := in.streamRequest(t, room, erin.tok, -1, "")
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		drops := testutil.ToFloat64(in.svc.m.drops)
		big := strings.Repeat("x", 3000)
		for i := 0; testutil.ToFloat64(in.svc.m.drops) == drops; i++ {
			if i > 5000 {
				t.Fatal("the slow stream was never cut")
			}
			e.cmds.postMany(room, dana.id, 20, func(int) string { return big })
		}
		// It ended with 4008 as its last event; a new stream resumes.
		s := wstest.NewSSE(resp.Body)
		code := (&client{t: t, sse: s}).closeCode(60 * time.Second)
		if code != CloseSlowConsumer {
			t.Fatalf("close code %d, want %d", code, CloseSlowConsumer)
		}
		c := in.stream(t, room, erin.tok, 0, "")
		c.presence()
		head := e.cmds.head(room)
		evs, _ := c.eventsUntil(head, 60*time.Second)
		checkContiguous(t, "resumed after the cut", evs, 1, head)
	})
}
