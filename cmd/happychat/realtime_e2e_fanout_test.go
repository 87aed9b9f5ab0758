package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/testenv"
	"happychat/internal/wstest"
	"happychat/schemas"
)

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
