package main

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/testenv"
	"happychat/internal/wstest"
	"happychat/schemas"
)

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
