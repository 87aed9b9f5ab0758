package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// slowMemoryLimit is how much the realtime instance's resident memory may
// grow while a slow socket is cut off: its queue is bounded (256 frames
// by default), so anything near this means an unbounded buffer.
const slowMemoryLimit = 256 << 20

func runSlowReader(ctx context.Context, r *run) error {
	// One busy room: member 0 is the slow reader, the others read fast.
	rooms, err := r.setupRooms(ctx, 1, min(r.size.Members+1, r.size.Capacity), false)
	if err != nil {
		return err
	}
	busy := rooms[0]
	urls := r.sys.realtimeURLs()
	var fast []*subscriber
	for i, u := range busy.members[1:] {
		s := startSubscriber(ctx, r.name+"/"+u.nick, busy.id, u, urls, i, r.l)
		fast = append(fast, s)
		r.subs = append(r.subs, s)
	}
	spec := loadSpec{rooms: rooms, workers: 8, rate: r.size.SlowRate, count: r.size.SlowMessages,
		body: largeBody(r.name, r.size.SlowBody), timeout: r.size.SendTimeout}
	phase := func() (float64, error) {
		for _, s := range fast {
			s.takeLatencies()
		}
		r.sys.api.runLoad(ctx, r.l, spec, nil)
		if err := r.waitSubscribers(ctx, fast); err != nil {
			return 0, err
		}
		var lats []time.Duration
		for _, s := range fast {
			lats = append(lats, s.takeLatencies()...)
		}
		return quantileMS(lats, 0.99), nil
	}
	// Phase 1: the room without the slow reader, for the reference p99.
	p99Before, err := phase()
	if err != nil {
		return err
	}
	rt := r.sys.procs[procRealtime1]
	drops0 := r.metric(ctx, procRealtime1, "happychat_realtime_send_queue_drops_total")
	rss0, _ := rssBytes(rt.pid())

	// Phase 2: the same load with a socket that reads nothing.
	slowU := busy.members[0]
	d := slowDialer()
	q := url.Values{"room": {busy.id.String()}, "token": {slowU.token}}
	ws, _, err := d.DialContext(ctx, urls[0]+"/v1/ws?"+q.Encode(), nil)
	if err != nil {
		return fmt.Errorf("slow socket: %w", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := ws.ReadMessage(); err != nil { // presence
		return fmt.Errorf("slow socket presence: %w", err)
	}
	var (
		peak     int64
		sampling sync.WaitGroup
	)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampling.Go(func() {
		for sampleCtx.Err() == nil {
			if v, err := rssBytes(rt.pid()); err == nil {
				peak = max(peak, v)
			}
			sleepCtx(sampleCtx, 100*time.Millisecond)
		}
	})
	p99During, err := phase()
	stopSampling()
	sampling.Wait()
	if err != nil {
		return err
	}
	r.loadEnd = time.Now()

	// The slow socket now reads: what was buffered, then its end.
	frames, code, cut := drainSlow(ws, 20*time.Second)
	drops1 := r.metric(ctx, procRealtime1, "happychat_realtime_send_queue_drops_total")
	if !cut {
		r.fail(finding(KindSlowReader, busy.id, "the slow socket was not cut off: it read %d frames and was still open (drops %v → %v)", frames, drops0, drops1))
	}
	if drops1-drops0 < 1 {
		r.fail(finding(KindSlowReader, busy.id, "happychat_realtime_send_queue_drops_total did not grow (%v → %v)", drops0, drops1))
	}
	if growth := peak - rss0; rss0 > 0 && growth > slowMemoryLimit {
		r.fail(finding(KindSlowReader, busy.id, "realtime-1 grew by %d MiB with a slow socket", growth>>20))
	}
	r.notef("slow socket: close %d after %d frames; realtime-1 RSS %d MiB → peak %d MiB", code, frames, rss0>>20, peak>>20)
	ratio := 0.0
	if p99Before > 0 {
		ratio = p99During / p99Before
	}
	verdict := "within"
	if ratio > 2 {
		verdict = "ABOVE (advisory: wall-clock on a shared machine)"
	}
	r.notef("the other sockets' send→deliver p99: %.1f ms without the slow reader, %.1f ms with it (×%.2f, %s 2× the reference)", p99Before, p99During, ratio, verdict)
	return nil
}

// drainSlow reads the slow socket until it ends or stays quiet for idle.
// cut is true when the server ended it (a close frame or a dropped
// connection), false when it was still open.
func drainSlow(ws *websocket.Conn, idle time.Duration) (frames, code int, cut bool) {
	for {
		_ = ws.SetReadDeadline(time.Now().Add(idle))
		_, _, err := ws.ReadMessage()
		if err == nil {
			frames++
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return frames, ce.Code, true
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return frames, 0, false
		}
		return frames, websocket.CloseAbnormalClosure, true
	}
}

// takeLatencies returns and forgets the latencies recorded so far.
func (s *subscriber) takeLatencies() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.latencies
	s.latencies = nil
	return l
}

// waitSubscribers waits until subs have their room's last seq as the log
// has it now (bounded by the catch-up time).
func (r *run) waitSubscribers(ctx context.Context, subs []*subscriber) error {
	h, err := r.sys.history(ctx)
	if err != nil {
		return err
	}
	f := FoldLog(h.Events, r.size.Capacity)
	deadline := time.Now().Add(r.size.CatchUp)
	for _, s := range subs {
		want := int64(0)
		if rf := f.Rooms[s.room]; rf != nil {
			want = rf.Seq
		}
		for s.lastSeq() < want {
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s stuck at seq %d of %d", s.name, s.lastSeq(), want)
			}
			sleepCtx(ctx, 50*time.Millisecond)
		}
	}
	return nil
}

// metric reads one metric (summed over its labels) of a process; NaN-free:
// 0 when it cannot be read.
func (r *run) metric(ctx context.Context, proc, name string) float64 {
	m, err := r.sys.scrape(ctx, proc)
	if err != nil {
		r.notef("metrics of %s: %v", proc, err)
		return 0
	}
	return m[name]
}

func runPoison(ctx context.Context, r *run) error {
	p := r.sys.procs[procProjector]
	var (
		pid    int
		target schemas.ID // the room whose partition gets the poison
	)
	return r.underLoad(ctx, faultPlan{
		rooms: 2,
		prepare: func(_ context.Context, rooms []*room) error {
			pid, target = p.pid(), rooms[0].id
			return nil
		},
		lead: time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			f := r.fault("poison", fmt.Sprintf("%s partition %d", r.sys.names.Rooms, schemas.Partition(target, r.size.Partitions)))
			if err := r.sys.injectPoison(ctx, target); err != nil {
				return err
			}
			r.endFault(f)
			return nil
		},
		// Checked once the views are caught up (which also shows nothing
		// after the poison was skipped).
		after: func(context.Context) error {
			r.after = append(r.after, func(ctx context.Context) []Finding { return r.checkPoisoned(ctx, target, p, pid) })
			return nil
		},
	})
}

// checkPoisoned checks that both stores dead-lettered every poison record
// once, and that the projector (pid before the poison) never restarted.
func (r *run) checkPoisoned(ctx context.Context, target schemas.ID, p *proc, pid int) []Finding {
	var out []Finding
	want := int64(r.sys.poisoned())
	deadline := time.Now().Add(r.size.CatchUp)
	for {
		pg, ch, err := r.sys.deadLetters(ctx)
		if err == nil && pg == want && ch == want {
			r.notef("dead letters: PostgreSQL %d, ClickHouse %d", pg, ch)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			out = append(out, finding(KindPoison, target, "dead letters: PostgreSQL %d, ClickHouse %d, want %d each (err %v)", pg, ch, want, err))
			break
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	if now := p.pid(); now != pid {
		out = append(out, finding(KindPoison, 0, "the projector restarted (pid %d → %d)", pid, now))
	}
	r.notef("projector metrics: dead letters %v, poison events %v",
		r.metric(ctx, procProjector, "happychat_projector_dead_letters_total"),
		r.metricLabel(ctx, procProjector, "happychat_projector_events_total", `type="poison"`))
	return out
}

// metricLabel reads the series of a metric whose labels contain label
// (summed); 0 when it cannot be read.
func (r *run) metricLabel(ctx context.Context, proc, name, label string) float64 {
	text, err := r.sys.scrapeText(ctx, proc)
	if err != nil {
		return 0
	}
	return sumSeries(text, name, label)
}

// replayViews runs `happychat replay --view all` while a reader keeps
// querying rooms and history; it reports the replay's failure and every
// query that did not answer 200, after one retry of a 503 that named its
// Retry-After, as a client that honours the header does.
func (r *run) replayViews(ctx context.Context, rooms []schemas.ID) {
	var (
		qwg     sync.WaitGroup
		qmu     sync.Mutex
		queries int
		retries int
		failed  = map[int]int{}
	)
	qctx, stopQueries := context.WithCancel(ctx)
	defer func() {
		stopQueries()
		qwg.Wait()
	}()
	qwg.Go(func() {
		for qctx.Err() == nil {
			id := rooms[rand.IntN(len(rooms))]
			token := r.sys.reader(id) // a private room is read by a member
			for _, path := range []string{"/v1/rooms", "/v1/rooms/" + id.String(), "/v1/rooms/" + id.String() + "/messages?limit=50"} {
				ans := r.sys.api.do(qctx, http.MethodGet, r.sys.api.query+path, token, nil)
				retried := false
				if ans.status == http.StatusServiceUnavailable && ans.retryAfter > 0 {
					// A store that is slow under the replay's writes is
					// answered 503 with Retry-After (the contract's
					// answer for a store that timed out): a client waits
					// and asks again, and that second answer is what
					// the person sees. Only it counts.
					retried = true
					sleepCtx(qctx, min(ans.retryAfter, 2*time.Second))
					ans = r.sys.api.do(qctx, http.MethodGet, r.sys.api.query+path, token, nil)
				}
				if qctx.Err() != nil {
					return
				}
				qmu.Lock()
				queries++
				if retried {
					retries++
				}
				if ans.status != http.StatusOK {
					failed[ans.status]++
				}
				qmu.Unlock()
			}
			sleepCtx(qctx, 20*time.Millisecond)
		}
	})
	f := r.fault("replay", "all views")
	out, err := runOnce(ctx, r.sys.cfg.Bin, r.sys.env, r.sys.work+"/replay-"+r.name+".log", r.size.ReplayTimeout, "replay", "--view", "all")
	r.endFault(f)
	if err != nil {
		r.fail(finding(KindReplay, 0, "the replay did not complete within %s: %v", r.size.ReplayTimeout, firstLine(err.Error())))
	}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, "events in") {
			r.notef("replay: %s", strings.TrimSpace(line))
		}
	}
	sleepCtx(ctx, time.Second)
	stopQueries()
	qwg.Wait()
	n := 0
	for _, v := range failed {
		n += v
	}
	if n > 0 {
		r.fail(finding(KindReplay, 0, "%d of %d queries failed during the replay: %s", n, queries, statusCounts(failed)))
	}
	r.notef("%d queries during the replay, %d answered after a 503 with Retry-After, %d failed", queries, retries, n)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// earlierRooms are the rooms the scenarios before made; run alone, the
// replay scenarios make some history first.
func (r *run) earlierRooms(ctx context.Context) ([]schemas.ID, error) {
	r.st.mu.Lock()
	rooms := slices.Clone(r.st.rooms)
	r.st.mu.Unlock()
	if len(rooms) > 0 {
		return rooms, nil
	}
	pre, err := r.setupRooms(ctx, 2, r.size.FaultMembers, false)
	if err != nil {
		return nil, err
	}
	r.sys.api.runLoad(ctx, r.l, loadSpec{rooms: pre, workers: 4, count: 200, body: defaultBody(r.name), timeout: r.size.SendTimeout}, nil)
	h, err := r.sys.history(ctx)
	if err != nil {
		return nil, err
	}
	if _, fs := r.sys.waitViews(ctx, FoldLog(h.Events, r.size.Capacity), roomIDs(pre), r.size.CatchUp); len(fs) > 0 {
		return nil, fmt.Errorf("views did not catch up before the replay: %v", fs[0].Detail)
	}
	return roomIDs(pre), nil
}

// runReplay rebuilds every view while queries keep coming and nothing is
// written: the views after must equal the views before, table by table.
func runReplay(ctx context.Context, r *run) error {
	rooms, err := r.earlierRooms(ctx)
	if err != nil {
		return err
	}
	before, err := r.sys.viewDigest(ctx, rooms)
	if err != nil {
		return err
	}
	r.replayViews(ctx, rooms)
	after, err := r.sys.viewDigest(ctx, rooms)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(before)) {
		if before[name] != after[name] {
			r.fail(finding(KindReplay, 0, "%s after the replay differs from before: %s → %s", name, before[name], after[name]))
		}
	}
	r.notef("%d rooms compared table by table before and after", len(rooms))
	return nil
}

// runReplayLive rebuilds every view while sends continue, as a replay in
// production always runs: it must end, and the views must then equal the
// log (the checks after every scenario).
func runReplayLive(ctx context.Context, r *run) error {
	earlier, err := r.earlierRooms(ctx)
	if err != nil {
		return err
	}
	return r.underLoad(ctx, faultPlan{
		rooms: 2, lead: time.Second, tail: time.Second,
		fault: func(ctx context.Context, rooms []*room) error {
			r.replayViews(ctx, append(earlier, roomIDs(rooms)...))
			return nil
		},
		// The earlier rooms are checked against the log too: the replay
		// rebuilt them.
		after: func(context.Context) error {
			for _, id := range earlier {
				r.rooms = append(r.rooms, &room{id: id})
			}
			return nil
		},
	})
}
