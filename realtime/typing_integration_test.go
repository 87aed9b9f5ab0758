package realtime

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/internal/wstest"
	"happychat/schemas"
)

// postTyping is POST /v1/rooms/{room}/typing on in with tok ("" : none).
func (in *instance) postTyping(t *testing.T, room, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, in.srv.URL+"/v1/rooms/"+room+"/typing", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// pump reads c's frames into a channel, so that a test can wait for them
// with timeouts (a socket whose read times out is unusable after).
func pump(c *client) <-chan wstest.Frame {
	ch := make(chan wstest.Frame, 256)
	go func() {
		defer close(ch)
		for {
			f, err := c.read(time.Minute)
			if err != nil {
				return
			}
			ch <- f
		}
	}()
	return ch
}

// next returns the next frame of ch within timeout (false: none).
func next(ch <-chan wstest.Frame, timeout time.Duration) (wstest.Frame, bool) {
	select {
	case f, ok := <-ch:
		return f, ok
	case <-time.After(timeout):
		return wstest.Frame{}, false
	}
}

// typingFrom reads frames until the typing frame of user, returning the
// typing frames read before it (and failing on any room event: typing
// never takes a seq or touches the log).
func typingFrom(t *testing.T, ch <-chan wstest.Frame, user schemas.ID, timeout time.Duration) (wstest.Frame, []wstest.Frame) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var before []wstest.Frame
	for {
		f, ok := next(ch, time.Until(deadline))
		if !ok {
			t.Fatalf("no typing frame of %s", user)
		}
		switch {
		case f.EventSeq() > 0:
			t.Fatalf("a room event among the typing frames: %s", f)
		case f.Type != typeTyping:
		case f.UserID == user:
			return f, before
		default:
			before = append(before, f)
		}
	}
}

// Typing indicators cross instances through the typing topic, to sockets
// and streams of the room, one per user per interval, never into the log;
// over HTTP only members may send them.
func TestTypingAcrossInstances(t *testing.T) {
	e := newEnv(t, 1)
	const interval = 300 * time.Millisecond
	cfg := func(c *Config) { c.TypingInterval = interval }
	a, b := e.start(cfg), e.start(cfg)
	room := e.cmds.createRoom()
	alice, bob, carol, dana := e.member(room, "alice"), e.member(room, "bob"), e.member(room, "carol"), e.member(room, "dana")
	outsider := e.newUser("outsider")

	onA := a.dial(t, room, alice.tok, -1)
	onA.presence()
	onB := b.dial(t, room, bob.tok, -1)
	onB.presence()
	streamB := b.stream(t, room, carol.tok, -1, "")
	streamB.presence()
	framesA, framesB, framesStream := pump(onA), pump(onB), pump(streamB)

	// Until both tails are positioned at the topic's end, an indicator may
	// go unseen: dana says she types (over HTTP, on a) until bob sees it.
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatal("no typing frame reached the other instance")
		}
		resp := a.postTyping(t, room.String(), dana.tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("typing: status %d", resp.StatusCode)
		}
		if f, ok := next(framesB, 500*time.Millisecond); ok && f.Type == typeTyping && f.UserID == dana.id {
			break
		}
		time.Sleep(interval)
	}
	// Drain what the warm-up left, then count from a clean state.
	time.Sleep(2 * interval)
	for _, ch := range []<-chan wstest.Frame{framesA, framesB, framesStream} {
		for {
			if _, ok := next(ch, 300*time.Millisecond); !ok {
				break
			}
		}
	}
	tailA, tailB := testutil.ToFloat64(a.svc.m.tailRecords), testutil.ToFloat64(b.svc.m.tailRecords)

	// alice types five times at once: one indicator passes the limit. dana
	// then types through the same instance; the topic has one partition,
	// so whatever alice's passed arrives before dana's.
	for range 5 {
		onA.sendJSON(map[string]string{"type": "typing"})
	}
	time.Sleep(interval)
	for i := 0; ; i++ {
		resp := a.postTyping(t, room.String(), dana.tok)
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent {
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests || i == 20 {
			t.Fatalf("typing: status %d", resp.StatusCode)
		}
		time.Sleep(interval)
	}
	for name, ch := range map[string]<-chan wstest.Frame{"bob's socket on b": framesB, "carol's stream on b": framesStream, "alice's socket on a": framesA} {
		_, before := typingFrom(t, ch, dana.id, 20*time.Second)
		if len(before) != 1 || before[0].UserID != alice.id || before[0].Nickname != "alice" || before[0].RoomID != room {
			t.Fatalf("%s: typing frames before dana's: %v, want alice's one", name, before)
		}
		if before[0].ExpiresInMs != 5000 {
			t.Fatalf("%s: expires_in_ms %d", name, before[0].ExpiresInMs)
		}
	}
	if testutil.ToFloat64(a.svc.m.tailRecords) != tailA || testutil.ToFloat64(b.svc.m.tailRecords) != tailB {
		t.Fatal("typing reached the rooms topic")
	}

	t.Run("HTTP refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name, room, tok string
			status          int
			code            schemas.Code
		}{
			{"no token", room.String(), "", 401, schemas.CodeUnauthorized},
			{"not a member", room.String(), outsider.tok, 403, schemas.CodeForbidden},
			{"room id not a number", "x1", bob.tok, 400, schemas.CodeBadRequest},
			{"unknown room", "12345", bob.tok, 404, schemas.CodeNotFound},
		} {
			resp := b.postTyping(t, tc.room, tc.tok)
			defer resp.Body.Close()
			checkRefusal(t, resp, tc.status, tc.code)
		}
		// Twice at once: the second is over the limit.
		resp := b.postTyping(t, room.String(), carol.tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("first: %d", resp.StatusCode)
		}
		resp = b.postTyping(t, room.String(), carol.tok)
		defer resp.Body.Close()
		checkRefusal(t, resp, 429, schemas.CodeRateLimited)
	})
}
