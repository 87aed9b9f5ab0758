package realtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/schemas"
)

// Fan-out: 20 members each on a socket; messages sent over the sockets and
// directly; every socket sees every event once, in seq order, with acks for
// its own sends.
func TestFanOutOrderAndCompleteness(t *testing.T) {
	e := newEnv(t, 3)
	in := e.start(nil)
	room := e.cmds.createRoom()
	const n = 20
	members := make([]user, n)
	for i := range members {
		members[i] = e.member(room, fmt.Sprintf("user%02d", i))
	}
	clients := make([]*client, n)
	snap := e.cmds.head(room)
	for i, u := range members {
		clients[i] = in.dial(t, room, u.tok, -1)
		p := clients[i].presence()
		if len(p.Members) != n || p.RoomID != room || p.Seq != snap {
			t.Fatalf("presence: %d members, room %s, seq %d (want %d)", len(p.Members), p.RoomID, p.Seq, snap)
		}
	}
	const perSender, socketSenders, directSenders = 10, 5, 5
	var wg sync.WaitGroup
	for i := range socketSenders {
		wg.Go(func() {
			c := clients[i]
			for j := range perSender {
				body := fmt.Sprintf("darn, congrats %d from %d 🎉", j, i)
				if err := c.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"send","body":%q,"client_msg_id":"s%d-%d"}`, body, i, j))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := socketSenders; i < socketSenders+directSenders; i++ {
		wg.Go(func() {
			u := members[i]
			for j := range perSender {
				if _, err := e.cmds.Send(context.Background(), Caller{UserID: u.id, Nickname: u.nick}, room, fmt.Sprintf("direct %d", j), fmt.Sprintf("d%d-%d", i, j)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	end := snap + (socketSenders+directSenders)*perSender
	var check sync.WaitGroup
	for i, c := range clients {
		check.Go(func() {
			events, others := c.eventsUntil(end, 60*time.Second)
			checkContiguous(t, fmt.Sprintf("client %d", i), events, snap+1, end)
			if i < socketSenders {
				acks := 0
				for _, f := range others {
					if f.Type == typeAck && f.Message != nil && strings.HasPrefix(f.ClientMsgID, fmt.Sprintf("s%d-", i)) {
						acks++
					}
				}
				// Acks may still be in flight behind the last event.
				for acks < perSender {
					f := c.mustRead(10 * time.Second)
					if f.Type == typeAck {
						acks++
					}
				}
			}
			for _, f := range events {
				if f.Type != typeMessage || !strings.Contains(f.Message.Body, "congrats") {
					continue
				}
				if strings.Contains(f.Message.Body, "darn") || len(f.Message.Effects) != 1 || f.Message.Effects[0] != "balloons" {
					t.Errorf("moderation not applied: %q %v", f.Message.Body, f.Message.Effects)
				}
			}
		})
	}
	check.Wait()
	if got := testutil.ToFloat64(in.svc.m.gaps); got != 0 {
		t.Fatalf("seq gaps: %v", got)
	}
	if got := testutil.ToFloat64(in.svc.m.open); got != n {
		t.Fatalf("open connections gauge: %v", got)
	}

	// A non-member is refused before the upgrade.
	outsider := e.newUser("outsider")
	_, resp, err := websocket.DefaultDialer.Dial(in.wsURL(room, outsider.tok, -1), nil)
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("non-member: err %v, resp %v", err, resp)
	}
}

// Resume after a disconnect: from a recent seq (served from memory) and
// from a very old seq (read from Kafka, positioned by ClickHouse), with
// other rooms' events interleaved on the same partition.
func TestResume(t *testing.T) {
	e := newEnv(t, 2)
	ch := clickhouseDB(t)
	loc := &countingLocator{inner: NewClickHouseLocator(ch)}
	in := e.start(func(c *Config) { c.RecentEvents = 32; c.Locator = loc })
	room := e.cmds.createRoomOn(0)
	noise := e.cmds.createRoomOn(0)
	alice := e.member(room, "alice")
	bob := e.member(room, "bob")
	noisy := e.member(noise, "noisy")

	c := in.dial(t, room, alice.tok, -1)
	snap := c.presence().Seq
	e.cmds.postMany(room, bob.id, 5, func(i int) string { return fmt.Sprintf("m%d", i) })
	events, _ := c.eventsUntil(snap+5, 20*time.Second)
	checkContiguous(t, "first socket", events, snap+1, snap+5)
	seen := lastSeq(events)
	_ = c.ws.Close()

	// bob watches the room, so the test knows when the tail has dispatched.
	watcher := in.dial(t, room, bob.tok, seen)
	watcher.presence()

	t.Run("recent", func(t *testing.T) {
		e.cmds.postMany(room, bob.id, 10, func(i int) string { return fmt.Sprintf("missed %d", i) })
		watcher.eventsUntil(e.cmds.head(room), 20*time.Second)
		c := in.dial(t, room, alice.tok, seen)
		p := c.presence()
		end := e.cmds.head(room)
		if p.Seq != end {
			t.Fatalf("presence seq %d, want %d", p.Seq, end)
		}
		events, _ := c.eventsUntil(end, 20*time.Second)
		checkContiguous(t, "resumed socket", events, seen+1, end)
		// Then live, with no duplicate at the seam.
		e.cmds.postMany(room, bob.id, 3, func(i int) string { return fmt.Sprintf("live %d", i) })
		live, _ := c.eventsUntil(end+3, 20*time.Second)
		checkContiguous(t, "live after resume", live, end+1, end+3)
		if got := testutil.ToFloat64(in.svc.m.resumes.WithLabelValues("ring")); got < 1 {
			t.Fatalf("ring resumes = %v, want >= 1", got)
		}
	})

	// A long history: far more than the ring, interleaved with another
	// room's events on the same partition. The projector's room_events rows
	// are written here for the first part of it.
	for range 10 {
		e.cmds.postMany(room, bob.id, 150, func(i int) string { return fmt.Sprintf("history %d", i) })
		e.cmds.postMany(noise, noisy.id, 100, func(i int) string { return "noise" })
	}
	indexRoomEvents(t, ch, room, e.cmds.logged(room), 600)

	t.Run("very old, located by ClickHouse", func(t *testing.T) {
		before := testutil.ToFloat64(in.svc.m.resumes.WithLabelValues("log"))
		c := in.dial(t, room, alice.tok, 300)
		c.presence()
		end := e.cmds.head(room)
		events, _ := c.eventsUntil(end, 60*time.Second)
		checkContiguous(t, "very old resume", events, 301, end)
		e.cmds.postMany(room, bob.id, 2, func(i int) string { return "after" })
		live, _ := c.eventsUntil(end+2, 20*time.Second)
		checkContiguous(t, "live after very old resume", live, end+1, end+2)
		if got := testutil.ToFloat64(in.svc.m.resumes.WithLabelValues("log")); got != before+1 {
			t.Fatalf("log resumes = %v, want %v", got, before+1)
		}
		if loc.hits() == 0 {
			t.Fatal("the ClickHouse locator found nothing")
		}
	})

	t.Run("from seq 0, beyond the index", func(t *testing.T) {
		hits := loc.hits()
		c := in.dial(t, room, alice.tok, 0)
		c.presence()
		end := e.cmds.head(room)
		events, _ := c.eventsUntil(end, 60*time.Second)
		checkContiguous(t, "full replay", events, 1, end)
		if events[0].Type != typeRoomEvent || events[0].Event != schemas.TypeRoomCreated {
			t.Fatalf("seq 1 is %+v, want the room_event of room.created", events[0])
		}
		// Seq 0 starts at the room's first event, located in the index,
		// not at the partition's start.
		if loc.hits() != hits+1 {
			t.Fatalf("locator hits %d, want %d: seq 0 was not located", loc.hits(), hits+1)
		}
	})

	t.Run("a wrong index is detected and read past", func(t *testing.T) {
		lying := e.start(func(c *Config) {
			c.RecentEvents = 8
			c.Locator = lyingLocator{offset: e.cmds.logged(room)[900].offset}
		})
		c := lying.dial(t, room, alice.tok, 100)
		c.presence()
		end := e.cmds.head(room)
		events, _ := c.eventsUntil(end, 60*time.Second)
		checkContiguous(t, "resume past a wrong index", events, 101, end)
		if got := testutil.ToFloat64(lying.svc.m.locatorMisses); got != 1 {
			t.Fatalf("locator misses = %v, want 1", got)
		}
	})
}

// countingLocator counts the located answers of a real locator.
type countingLocator struct {
	inner OffsetLocator
	mu    sync.Mutex
	found int
}

func (l *countingLocator) Locate(ctx context.Context, room schemas.ID, part int32, after int64) (int64, bool, error) {
	off, ok, err := l.inner.Locate(ctx, room, part, after)
	if ok {
		l.mu.Lock()
		l.found++
		l.mu.Unlock()
	}
	return off, ok, err
}

func (l *countingLocator) hits() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.found
}

// lyingLocator points every resume at a fixed, too late offset: what a
// stale index would do.
type lyingLocator struct{ offset int64 }

func (l lyingLocator) Locate(context.Context, schemas.ID, int32, int64) (int64, bool, error) {
	return l.offset, true, nil
}

// indexRoomEvents writes room_events rows for seq 1..upTo as the ClickHouse
// projector would.
func indexRoomEvents(t *testing.T, ch driver.Conn, room schemas.ID, logged map[int64]loggedEvent, upTo int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := ch.PrepareBatch(ctx, "INSERT INTO room_events (room_id, seq, id, type, user_id, occurred_ms, occurred_at, partition, offset)")
	if err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= upTo; seq++ {
		ev, ok := logged[seq]
		if !ok {
			t.Fatalf("seq %d not logged", seq)
		}
		if err := b.Append(uint64(room), uint64(seq), uint64(ev.env.ID), ev.env.Type, uint64(ev.env.UserID),
			ev.env.OccurredAt.UnixMilli(), ev.env.OccurredAt, uint32(ev.partition), uint64(ev.offset)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}
