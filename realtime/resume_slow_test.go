package realtime

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A member resuming from seq 0 who then reads nothing must not hold the
// instance's only resume slot: another member's resume completes while the
// slow one's client is stalled, and the slow one, once it reads, still gets
// every event once, in order (its catch-up gave its reader back and
// reopened one after the last seq it had queued).
//
// The slow socket's writes block on its tiny receive window and it neither
// idles out nor times out a write for minutes: before resumes yielded, the
// second resume waited for all of that.
func TestSlowResumerDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t, 1)
	in := e.start(func(c *Config) {
		c.MaxCatchUps = 1
		c.SendQueue = 16
		c.SocketSendBuffer = 4096
		c.RecentEvents = 8
		c.WriteTimeout = 5 * time.Minute
		c.PingInterval = time.Minute
		c.IdleTimeout = 5 * time.Minute
	})
	room := e.cmds.createRoom()
	slowU := e.member(room, "slow")
	other := e.member(room, "other")
	body := strings.Repeat("happy ", 70)
	for range 4 {
		e.cmds.postMany(room, other.id, 150, func(i int) string { return fmt.Sprintf("%d %s", i, body) })
	}
	end := e.cmds.head(room)

	slow := in.dialSmall(t, room, slowU.tok, 0) // and reads nothing yet

	// Wait (bounded) until the slow resume has given its slot back.
	deadline := time.Now().Add(60 * time.Second)
	for testutil.ToFloat64(in.svc.m.yields) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled resume never gave its reader back")
		}
		time.Sleep(20 * time.Millisecond)
	}

	fast := in.dial(t, room, other.tok, 0)
	fast.presence()
	events, _ := fast.eventsUntil(end, 60*time.Second)
	checkContiguous(t, "the other member's resume", events, 1, end)

	// The slow client reads at last: everything, once, in order.
	slow.presence()
	events, _ = slow.eventsUntil(end, 60*time.Second)
	checkContiguous(t, "the slow member's resume", events, 1, end)
	if got := testutil.ToFloat64(in.svc.m.gaps); got != 0 {
		t.Fatalf("seq gaps = %v", got)
	}
}
