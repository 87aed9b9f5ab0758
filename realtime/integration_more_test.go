package realtime

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/internal/wstest"
	"happychat/schemas"
	"happychat/schemas/token"
)

// Scale-out: a client that read part of the room on instance A and
// reconnects to instance B (which never served the room) with since_seq
// misses nothing and sees nothing twice; both instances serve live sockets
// of the same room side by side.
func TestResumeOnSecondInstance(t *testing.T) {
	e := newEnv(t, 3)
	a := e.start(nil)
	b := e.start(nil)
	room := e.cmds.createRoom()
	alice := e.member(room, "alice")
	bob := e.member(room, "bob")

	onA := a.dial(t, room, alice.tok, -1)
	snap := onA.presence().Seq
	e.cmds.postMany(room, bob.id, 20, func(i int) string { return fmt.Sprintf("before %d", i) })
	events, _ := onA.eventsUntil(snap+20, 20*time.Second)
	checkContiguous(t, "on A", events, snap+1, snap+20)
	_ = onA.ws.Close()

	e.cmds.postMany(room, bob.id, 30, func(i int) string { return fmt.Sprintf("missed %d", i) })
	bobOnA := a.dial(t, room, bob.tok, -1)
	bobOnA.presence()
	onB := b.dial(t, room, alice.tok, snap+20)
	onB.presence()
	end := e.cmds.head(room)
	events, _ = onB.eventsUntil(end, 30*time.Second)
	checkContiguous(t, "resumed on B", events, snap+21, end)

	// Live on both instances, with sends through B's socket.
	for i := range 5 {
		onB.sendJSON(map[string]string{"type": "send", "body": fmt.Sprintf("from B %d", i), "client_msg_id": fmt.Sprintf("b%d", i)})
	}
	e.cmds.postMany(room, bob.id, 5, func(i int) string { return "live" })
	live, others := onB.eventsUntil(end+10, 30*time.Second)
	checkContiguous(t, "live on B", live, end+1, end+10)
	acks := 0
	for _, f := range others {
		if f.Type == typeAck {
			acks++
		}
	}
	for acks < 5 {
		if f := onB.mustRead(10 * time.Second); f.Type == typeAck {
			acks++
		}
	}
	onA2, _ := bobOnA.eventsUntil(end+10, 30*time.Second)
	checkContiguous(t, "live on A", onA2, end+1, end+10)
}

// A client that stops reading is cut off (4008) once its queue overflows;
// the other sockets of the room get every event meanwhile.
func TestSlowReaderIsCutOff(t *testing.T) {
	e := newEnv(t, 1)
	// The queue absorbs the bursts a fast reader sees (the tail dispatches
	// a whole fetch at once); the slow reader takes nothing and overflows.
	in := e.start(func(c *Config) { c.SendQueue = 128; c.SocketSendBuffer = 16 << 10 })
	room := e.cmds.createRoom()
	writer := e.member(room, "writer")
	slowU := e.member(room, "slow")
	const fast = 5
	fastUsers := make([]user, fast)
	for i := range fastUsers {
		fastUsers[i] = e.member(room, fmt.Sprintf("fast%d", i))
	}

	// The slow client's receive buffer is tiny, so the server's writes to it
	// block soon and its queue fills.
	slow := in.dialSmall(t, room, slowU.tok, -1)

	clients := make([]*client, fast)
	for i, u := range fastUsers {
		clients[i] = in.dial(t, room, u.tok, -1)
		clients[i].presence()
	}
	snap := e.cmds.head(room)
	// The room keeps a steady pace: each batch reaches the fast readers
	// before the next is sent, while the slow reader falls further behind.
	const batches, perBatch = 40, 25
	body := strings.Repeat("x", 1500)
	got := make([][]wstest.Frame, fast)
	for b := range batches {
		e.cmds.postMany(room, writer.id, perBatch, func(int) string { return body })
		upTo := snap + int64(b+1)*perBatch
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Go(func() {
				events, _ := c.eventsUntil(upTo, 30*time.Second)
				got[i] = append(got[i], events...)
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	end := snap + batches*perBatch
	for i := range clients {
		checkContiguous(t, fmt.Sprintf("fast %d", i), got[i], snap+1, end)
	}
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(in.svc.m.drops) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the slow socket was not cut off")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Now it reads: what is buffered, then the end (the close frame when it
	// got through, else the connection's end).
	if code := slow.closeCode(20 * time.Second); code != CloseSlowConsumer && code != websocket.CloseAbnormalClosure {
		t.Fatalf("slow socket closed with %d", code)
	}
	if got := testutil.ToFloat64(in.svc.m.drops); got != 1 {
		t.Fatalf("send queue drops = %v, want 1 (only the slow socket)", got)
	}
	// It resumes by seq and gets everything.
	again := in.dial(t, room, slowU.tok, snap)
	again.presence()
	events, _ := again.eventsUntil(end, 60*time.Second)
	checkContiguous(t, "slow after resume", events, snap+1, end)
}

// Hostile and broken frames: each is handled (an error frame, or the
// documented close) and the server keeps serving.
func TestHostileFrames(t *testing.T) {
	e := newEnv(t, 1)
	in := e.start(func(c *Config) {
		c.MaxFrameBytes = 2048
		c.FrameRate, c.FrameBurst = 5, 10
		c.MaxConnsPerUser = 50
		c.UserConnectBurst = 50
	})
	room := e.cmds.createRoom()
	u := e.member(room, "mallory")
	open := func(t *testing.T) *client {
		c := in.dial(t, room, u.tok, -1)
		c.presence()
		return c
	}
	expectError := func(t *testing.T, c *client, frame []byte, wantID string) {
		t.Helper()
		if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
			t.Fatal(err)
		}
		f := c.mustRead(10 * time.Second)
		if f.Type != typeError || f.Error == nil || f.Error.Code != schemas.CodeBadRequest || f.ClientMsgID != wantID {
			t.Fatalf("got %+v, want a bad_request error frame for %q", f, wantID)
		}
		// Still alive.
		c.sendJSON(map[string]string{"type": "ping"})
		if f := c.mustRead(10 * time.Second); f.Type != typePong {
			t.Fatalf("after an error frame: %+v", f)
		}
	}
	errorCases := []struct {
		name  string
		frame string
		id    string
	}{
		{"not JSON", `hello`, ""},
		{"truncated JSON", `{"type":"send","body":"x"`, ""},
		{"JSON array", `[]`, ""},
		{"unknown type", `{"type":"subscribe","client_msg_id":"u1"}`, "u1"},
		{"no type", `{"body":"x"}`, ""},
		{"send without client_msg_id", `{"type":"send","body":"x"}`, ""},
		{"send with an unknown member", `{"type":"send","body":"x","client_msg_id":"u2","room":"1"}`, "u2"},
		{"send with a wrong type", `{"type":"send","body":["x"],"client_msg_id":"u3"}`, "u3"},
		{"lone surrogate escape", `{"type":"send","body":"\ud800","client_msg_id":"u4"}`, ""},
	}
	t.Run("error frames", func(t *testing.T) {
		c := open(t)
		for _, tc := range errorCases {
			t.Run(tc.name, func(t *testing.T) { expectError(t, c, []byte(tc.frame), tc.id) })
			time.Sleep(250 * time.Millisecond) // stay under the frame rate
		}
	})

	closeCases := []struct {
		name string
		mt   int
		data []byte
		want int
	}{
		{"too big", websocket.TextMessage, []byte(`{"type":"send","body":"` + strings.Repeat("a", 4096) + `","client_msg_id":"x"}`), CloseTooBig},
		{"invalid UTF-8", websocket.TextMessage, []byte("{\"type\":\"send\",\"body\":\"\xff\xfe\",\"client_msg_id\":\"x\"}"), CloseInvalidPayload},
		{"binary", websocket.BinaryMessage, []byte{1, 2, 3}, CloseUnsupportedData},
	}
	for _, tc := range closeCases {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t)
			if err := c.ws.WriteMessage(tc.mt, tc.data); err != nil {
				t.Fatal(err)
			}
			if code := c.closeCode(10 * time.Second); code != tc.want {
				t.Fatalf("close code %d, want %d", code, tc.want)
			}
		})
	}

	t.Run("flood", func(t *testing.T) {
		c := open(t)
		limited := 0
		go func() {
			for range 200 {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
					return
				}
			}
		}()
		for {
			f, err := c.read(10 * time.Second)
			if err != nil {
				if !websocket.IsCloseError(err, ClosePolicyViolation) {
					t.Fatalf("flood ended with %v", err)
				}
				break
			}
			if f.Type == typeError && f.Error.Code == schemas.CodeRateLimited {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("no rate_limited error frame before the close")
		}
	})

	t.Run("send errors come back as error frames", func(t *testing.T) {
		c := open(t)
		c.sendJSON(map[string]string{"type": "send", "body": "", "client_msg_id": "empty"})
		f := c.mustRead(10 * time.Second)
		if f.Type != typeError || f.ClientMsgID != "empty" || f.Error.Code != schemas.CodeBadRequest {
			t.Fatalf("got %+v", f)
		}
		c.sendJSON(map[string]string{"type": "send", "body": "ok", "client_msg_id": "fine"})
		var ack wstest.Frame
		for ack.Type != typeAck {
			ack = c.mustRead(10 * time.Second)
		}
		if ack.ClientMsgID != "fine" || ack.Message == nil || ack.Message.Body != "ok" {
			t.Fatalf("ack %+v", ack)
		}
		// Idempotent: the same client_msg_id answers the same message.
		c.sendJSON(map[string]string{"type": "send", "body": "ok", "client_msg_id": "fine"})
		var again wstest.Frame
		for again.Type != typeAck {
			again = c.mustRead(10 * time.Second)
		}
		if again.Message.ID != ack.Message.ID {
			t.Fatalf("retry answered %s, first %s", again.Message.ID, ack.Message.ID)
		}
	})

	// After all that, a well-behaved socket still works end to end.
	c := open(t)
	c.sendJSON(map[string]string{"type": "send", "body": "still here", "client_msg_id": "last"})
	events, _ := c.eventsUntil(e.cmds.head(room), 20*time.Second)
	if m := events[len(events)-1].Message; m == nil || m.Body != "still here" {
		t.Fatalf("last event %+v", events[len(events)-1])
	}
}

// Sockets end with the documented codes when the user leaves the room,
// when the token expires, and when the server shuts down.
func TestLifecycleCloses(t *testing.T) {
	e := newEnv(t, 1)
	in := e.start(nil)
	room := e.cmds.createRoom()

	t.Run("leaving the room", func(t *testing.T) {
		u := e.member(room, "leaver")
		other := e.member(room, "stayer")
		c := in.dial(t, room, u.tok, -1)
		c.presence()
		o := in.dial(t, room, other.tok, -1)
		o.presence()
		e.cmds.leave(room, u.id)
		events, _ := c.eventsUntil(e.cmds.head(room), 10*time.Second)
		if last := events[len(events)-1]; last.Type != typeLeft || last.UserID != u.id {
			t.Fatalf("last event %+v", last)
		}
		if code := c.closeCode(10 * time.Second); code != CloseNotMember {
			t.Fatalf("close code %d, want %d", code, CloseNotMember)
		}
		// Others stay, and see the leave.
		events, _ = o.eventsUntil(e.cmds.head(room), 10*time.Second)
		if last := events[len(events)-1]; last.Type != typeLeft || last.Nickname != "leaver" {
			t.Fatalf("stayer saw %+v", last)
		}
	})

	t.Run("token expiry", func(t *testing.T) {
		short, err := token.New(testSecret, 1500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		u := e.member(room, "brief")
		tok, _, err := short.Issue(u.id, u.nick)
		if err != nil {
			t.Fatal(err)
		}
		c := in.dial(t, room, tok, -1)
		c.presence()
		if code := c.closeCode(10 * time.Second); code != CloseTokenExpired {
			t.Fatalf("close code %d, want %d", code, CloseTokenExpired)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		other := e.start(nil)
		u := e.member(room, "late")
		c := other.dial(t, room, u.tok, -1)
		c.presence()
		go func() { _ = other.srv.Config.Close() }()
		other.svc.shutdown()
		if code := c.closeCode(10 * time.Second); code != CloseGoingAway {
			t.Fatalf("close code %d, want %d", code, CloseGoingAway)
		}
	})
}
