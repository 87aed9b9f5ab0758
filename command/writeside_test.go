package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Tests of the write side's long-run guarantees (issue "write side for the
// long run"): restarts from snapshots, idempotency beyond the window,
// node id leases, and ids under skewed clocks. Real Kafka and PostgreSQL.

// sendN posts n messages msg-0..msg-(n-1) and returns their ids.
func sendN(t *testing.T, in *instance, user Caller, room schemas.ID, n int) map[string]schemas.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ids := map[string]schemas.ID{}
	for i := range n {
		id := fmt.Sprint("msg-", i)
		m, err := retry(t, func() (schemas.Message, error) { return in.svc.Send(ctx, user, room, "hello "+id, id) })
		if err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		ids[id] = m.ID
	}
	return ids
}

// waitStore polls a count in the command store until it reaches want.
func (c *cluster) waitStore(what, query string, want int64) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		err := c.store.QueryRow(context.Background(), query, c.names.Rooms).Scan(&got)
		if err == nil && got >= want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: %d, want at least %d", what, got, want)
}

// waitSnapshotAtEnd waits for a snapshot of partition 0 at its end offset.
func (c *cluster) waitSnapshotAtEnd(ctx context.Context) {
	c.t.Helper()
	ends, err := c.admin.ListEndOffsets(ctx, c.names.Rooms)
	if err != nil {
		c.t.Fatal(err)
	}
	end, _ := ends.Lookup(c.names.Rooms, 0)
	c.waitStore("snapshot offset", `SELECT coalesce(max(off), 0) FROM command_snapshots WHERE topic = $1`, end.Offset-1)
}

func messagesIn(events []schemas.Envelope, room schemas.ID) int {
	n := 0
	for _, e := range events {
		if _, ok := e.Payload.(schemas.MessageSent); ok && e.RoomID == room {
			n++
		}
	}
	return n
}

func TestRestartFromSnapshotReplaysOnlyTheTail(t *testing.T) {
	c := newCluster(t, 1)
	snappy := func(cfg *Config) { cfg.SnapshotRecords, cfg.SnapshotInterval = 100, time.Second }
	a := c.startWith(0, snappy)
	c.waitOwned(a)
	room := c.openRoom(a, "snapshots")
	user := testCaller(11, "eleven")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c.join(ctx, a, user, room)
	const n = 400
	first := sendN(t, a, user, room, n)
	// Wait for a snapshot past every message, then stop: the next start
	// must read only what follows that snapshot.
	c.waitSnapshotAtEnd(ctx)
	a.stop()

	b := c.startWith(1, snappy)
	c.waitOwned(b)
	if got := b.svc.tail.records(); got > 10 {
		t.Fatalf("the restarted instance folded %d records at start, want only those after the snapshot (<= 10 of %d)", got, n)
	}
	// Its state is whole: retries find the originals, seq goes on.
	for _, id := range []string{"msg-0", "msg-199", fmt.Sprint("msg-", n-1)} {
		m, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, user, room, "retry", id) })
		if err != nil || m.ID != first[id] || m.Body != "hello "+id {
			t.Fatalf("retry of %s after restart: %v %d %q, want %d", id, err, m.ID, m.Body, first[id])
		}
	}
	m, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, user, room, "new", "after-restart") })
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != n+3 { // created, joined, n messages, this one
		t.Fatalf("seq after restart %d, want %d", m.Seq, n+3)
	}
	members, _, err := b.svc.Presence(ctx, room)
	if err != nil || len(members) != 1 || members[0].UserID != user.UserID {
		t.Fatalf("presence after restart: %v %+v", err, members)
	}
	events := c.readAll()
	checkRoomLog(t, events, 20)
	if got := messagesIn(events, room); got != n+1 {
		t.Fatalf("%d messages in the log, want %d", got, n+1)
	}
}

// A cold instance is not ready while it catches up, although the other
// instance owns every partition and would answer what it forwards: a
// deploy that took it for ready would stop the other next, leaving every
// partition without an owner until the cold one joined the group (the
// fault suite's cold-join scenario found /readyz green during the catch-up).
func TestColdInstanceIsNotReadyWhileItCatchesUp(t *testing.T) {
	c := newCluster(t, 2)
	a := c.start(0, 20)
	c.waitOwned(a)
	held, hold := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	b := c.startWith(1, func(cfg *Config) {
		cfg.hooks.caughtUp = func() {
			close(held)
			<-hold
		}
	})
	t.Cleanup(release) // runs before the instance's own cleanup waits for it
	select {
	case <-held:
	case <-time.After(60 * time.Second):
		t.Fatal("the second instance never caught up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The hook may run before Run has marked the service started (its
	// tail caught up at once, on a busy machine): "starting" is not ready
	// either, but the check is for the catch-up's own answer.
	for {
		err := b.svc.Ready(ctx)
		if err == nil || err.Error() != "starting" || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 3 {
		if err := b.svc.Ready(ctx); err == nil || !strings.Contains(err.Error(), "catching up") {
			t.Fatalf("ready while catching up: %v", err)
		}
		if got := testutil.ToFloat64(b.svc.metrics.owned); got != 0 {
			t.Fatalf("owns %v partitions before it caught up", got)
		}
	}
	release()
	for {
		err := b.svc.Ready(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never ready after the catch-up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := testutil.ToFloat64(b.svc.metrics.startupSeconds); got <= 0 {
		t.Fatalf("happychat_command_startup_seconds %v after the catch-up, want > 0", got)
	}
}

func TestRetryBeyondTheWindowReturnsTheOriginal(t *testing.T) {
	c := newCluster(t, 1)
	small := func(cfg *Config) {
		cfg.DedupeWindowEntries, cfg.SnapshotRecords, cfg.SnapshotInterval = 16, 50, time.Second
	}
	a := c.startWith(0, small)
	c.waitOwned(a)
	room := c.openRoom(a, "window")
	user := testCaller(12, "twelve")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c.join(ctx, a, user, room)
	const n = 200
	first := sendN(t, a, user, room, n)
	// Every send but the newest 16 leaves the window for the store.
	c.waitStore("evicted sends", `SELECT count(*) FROM command_dedupe WHERE topic = $1`, n-50)
	o := a.svc.ownerOf(0)
	if o == nil {
		t.Fatal("no owner")
	}
	check := func(in *instance, label string) {
		t.Helper()
		for i := range 10 {
			id := fmt.Sprint("msg-", i)
			m, err := retry(t, func() (schemas.Message, error) { return in.svc.Send(ctx, user, room, "retried", id) })
			if err != nil || m.ID != first[id] || m.Body != "hello "+id {
				t.Fatalf("%s: retry of %s: %v %d %q, want %d", label, id, err, m.ID, m.Body, first[id])
			}
		}
	}
	check(a, "beyond the window")
	a.stop()
	b := c.startWith(1, small)
	c.waitOwned(b)
	check(b, "beyond the window, after a restart")
	events := c.readAll()
	checkRoomLog(t, events, 20)
	if got := messagesIn(events, room); got != n {
		t.Fatalf("%d messages in the log, want %d: a retry appended", got, n)
	}
}

func TestInstanceIDsAreLeased(t *testing.T) {
	c := newCluster(t, 1)
	a := c.start(5, 20)
	c.waitOwned(a)
	// A second instance asking for the same id refuses to start.
	svc, err := New(Config{
		Brokers: c.brokers, Names: c.names, InstanceID: 5, InternalSecret: testSecret + "-internal",
		Keys: c.keys, AdminToken: testAdmin, Rules: plainRules{}, Store: c.store,
		hooks: testHooks{leaseWait: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Run(ctx, "127.0.0.1:1"); !errors.Is(err, errLeaseTaken) {
		t.Fatalf("second instance with id 5: %v, want %v", err, errLeaseTaken)
	}
	// Instances without an id lease distinct free ones.
	b := c.start(AutoInstanceID, 20)
	d := c.start(AutoInstanceID, 20)
	c.waitOwned(a, b, d)
	nodes := map[int]bool{5: true}
	for _, in := range []*instance{b, d} {
		select {
		case <-in.svc.running: // the lease is taken before
		case <-ctx.Done():
			t.Fatal("instance did not start")
		}
		in.svc.lease.mu.Lock()
		n := in.svc.lease.node
		in.svc.lease.mu.Unlock()
		if nodes[n] {
			t.Fatalf("node id %d leased twice", n)
		}
		nodes[n] = true
	}
}

// skewed returns a clock off by d.
func skewed(d time.Duration) func() time.Time { return func() time.Time { return time.Now().Add(d) } }

func TestTakeoverByAnOwnerWhoseClockIsBehind(t *testing.T) {
	c := newCluster(t, 1)
	a := c.startWith(0, func(cfg *Config) { cfg.Clock = skewed(5 * time.Second) })
	c.waitOwned(a)
	room := c.openRoom(a, "clocks")
	user := testCaller(13, "thirteen")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c.join(ctx, a, user, room)
	sendN(t, a, user, room, 20)
	a.stop()
	// The new owner's clock is 5 s behind the old one's: its ids must
	// still go on above the room's last one, at once (no 503s).
	b := c.startWith(1, func(cfg *Config) { cfg.Clock = time.Now })
	c.waitOwned(b)
	for i := range 20 {
		id := fmt.Sprint("late-", i)
		if _, err := b.svc.Send(ctx, user, room, "late", id); err != nil {
			t.Fatalf("send %s on the slow-clock owner: %v", id, err)
		}
	}
	checkRoomLog(t, c.readAll(), 20) // seq gap-free and ids strictly increasing
}

func TestLaterJoinWinsWhateverTheClocks(t *testing.T) {
	c := newCluster(t, 2)
	// a's clock runs 5 s ahead of b's. Each owns one partition.
	a := c.startWith(0, func(cfg *Config) { cfg.Clock = skewed(5 * time.Second) })
	b := c.startWith(1, func(cfg *Config) { cfg.Clock = time.Now })
	c.waitOwned(a, b)
	ownerOf := func(room schemas.ID) *instance {
		p := a.svc.partitionOf(room)
		if a.svc.ownerOf(p) != nil {
			return a
		}
		return b
	}
	// One room owned by a (fast clock), one by b (slow clock).
	var fast, slow schemas.ID
	for i := 0; fast == 0 || slow == 0; i++ {
		if i > 50 {
			t.Fatal("could not place rooms on both instances")
		}
		r := c.openRoom(a, fmt.Sprint("room ", i))
		if ownerOf(r) == a && fast == 0 {
			fast = r
		} else if ownerOf(r) == b && slow == 0 {
			slow = r
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for u := schemas.ID(100); u < 110; u++ {
		user := testCaller(u, fmt.Sprint("u", u))
		if _, err := retry(t, func() (schemas.JoinResult, error) { return a.svc.Join(ctx, user, fast) }); err != nil {
			t.Fatal(err)
		}
		// Acknowledged: now join the room whose owner's clock is behind.
		res, err := retry(t, func() (schemas.JoinResult, error) { return b.svc.Join(ctx, user, slow) })
		if err != nil {
			t.Fatal(err)
		}
		if res.LeftRoomID == nil || *res.LeftRoomID != fast {
			t.Fatalf("user %d: join answered %+v, want left_room_id %d", u, res, fast)
		}
	}
	// The later join wins: every user ends in the slow-clock room.
	deadline := time.Now().Add(30 * time.Second)
	for {
		inSlow, _, err1 := b.svc.Presence(ctx, slow)
		inFast, _, err2 := a.svc.Presence(ctx, fast)
		if err1 == nil && err2 == nil && len(inSlow) == 10 && len(inFast) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members: slow room %d (%v), fast room %d (%v); want 10 and 0", len(inSlow), err1, len(inFast), err2)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, e := range c.readAll() {
		if l, ok := e.Payload.(schemas.RoomLeft); ok && e.RoomID == slow {
			t.Fatalf("user %d was switch-left from the room of their later join (%+v)", e.UserID, l)
		}
	}
}

func TestUnknownEventBlocksThePartitionInsteadOfSkippingIt(t *testing.T) {
	c := newCluster(t, 1)
	a := c.start(0, 20)
	c.waitOwned(a)
	room := c.openRoom(a, "upgrade")
	user := testCaller(14, "fourteen")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.join(ctx, a, user, room)
	sendN(t, a, user, room, 3)
	// A newer build appended an event this build does not know (as in a
	// rolling upgrade that skipped the feature level): seq 6 of the room.
	rec := &kgo.Record{Topic: c.names.Rooms, Partition: 0, Key: schemas.Key(room), Value: []byte(fmt.Sprintf(
		`{"id":"%d","type":"message.reacted","version":1,"room_id":"%d","user_id":"14","seq":6,"occurred_at":"2026-12-02T06:00:00.000Z","payload":{"emoji":"🎉"}}`,
		room+1_000_000, room))}
	// It comes as a new build's owner would append it: through the
	// partition's transactional id, which fences a.
	cl, ends, err := a.svc.txnClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A first produce's commit can come back as an abort (txn_confirm.go):
	// believed only on the broker's answer, or the test would wait for an
	// event that never became visible.
	if err := endCommit(ctx, cl, ends); err != nil {
		t.Fatal(err)
	}
	// The partition stops: sends are refused (never stamped from a state
	// that misses seq 6), /readyz names the partition, the gauge counts it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := a.svc.Send(ctx, user, room, "after", "after-unknown")
		if code(err) == schemas.CodeUnavailable && a.svc.fold.parts[0].blockedErr() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("send after an unknown event: %v, want unavailable from a blocked partition", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := a.svc.Ready(ctx); err == nil || !strings.Contains(err.Error(), "partition 0 is blocked") {
		t.Fatalf("ready: %v, want partition 0 blocked", err)
	}
	if !errors.Is(a.svc.fold.parts[0].blockedErr(), schemas.ErrUnknownEvent) {
		t.Fatalf("blocked by %v, want an unknown event", a.svc.fold.parts[0].blockedErr())
	}
	for _, e := range c.readAll() {
		if m, ok := e.Payload.(schemas.MessageSent); ok && m.ClientMsgID == "after-unknown" {
			t.Fatal("a send was appended after an event the owner could not fold")
		}
	}
}

func TestDroppedSwitchLeaveIsRetriedUntilTheSeatIsFree(t *testing.T) {
	c := newCluster(t, 1)
	var drops atomic.Int32
	drops.Store(3)
	a := c.startWith(0, func(cfg *Config) { cfg.hooks.switchFails = func() bool { return drops.Add(-1) >= 0 } })
	c.waitOwned(a)
	from, to := c.openRoom(a, "from"), c.openRoom(a, "to")
	user := testCaller(15, "fifteen")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := retry(t, func() (schemas.JoinResult, error) { return a.svc.Join(ctx, user, from) }); err != nil {
		t.Fatal(err)
	}
	if _, err := retry(t, func() (schemas.JoinResult, error) { return a.svc.Join(ctx, user, to) }); err != nil {
		t.Fatal(err)
	}
	// The first switch-leaves are dropped; the owner's sweep retries
	// until the old room's seat is free.
	deadline := time.Now().Add(30 * time.Second)
	for {
		members, _, err := a.svc.Presence(ctx, from)
		if err == nil && len(members) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old room still seats %d members (%v) after dropped switch-leaves", len(members), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if drops.Load() >= 0 {
		t.Fatal("no switch-leave was dropped: the test did not test the retry")
	}
	left := 0
	for _, e := range c.readAll() {
		if l, ok := e.Payload.(schemas.RoomLeft); ok && e.RoomID == from && l.Reason == schemas.LeftReasonSwitched {
			left++
		}
	}
	if left != 1 {
		t.Fatalf("%d switch-leaves in the log, want 1", left)
	}
}

func TestFeatureLevelGatesARollingUpgrade(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// An old build (level 1) and a new one (level 2) side by side.
	old := c.startWith(0, func(cfg *Config) { cfg.hooks.level = 1 })
	upgraded := c.startWith(1, func(cfg *Config) { cfg.hooks.level = 2 })
	c.waitOwned(old, upgraded)
	<-old.svc.running
	<-upgraded.svc.running
	if err := SetFeatureLevel(ctx, c.store, c.names, 2); err == nil || !strings.Contains(err.Error(), "[0]") {
		t.Fatalf("raising the level with an old instance alive: %v, want refused naming instance 0", err)
	}
	level, live, err := FeatureLevels(ctx, c.store, c.names)
	if err != nil || level != 1 || len(live) != 2 {
		t.Fatalf("levels: %d %+v %v", level, live, err)
	}
	// The old one is upgraded: then the level goes up, and an old build
	// can no longer start.
	old.stop()
	if err := SetFeatureLevel(ctx, c.store, c.names, 2); err != nil {
		t.Fatal(err)
	}
	svc, err := New(Config{Brokers: c.brokers, Names: c.names, InstanceID: 0, InternalSecret: testSecret + "-internal",
		Keys: c.keys, AdminToken: testAdmin, Rules: plainRules{}, Store: c.store, hooks: testHooks{level: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Run(ctx, "127.0.0.1:1"); !errors.Is(err, errFeatureLevel) {
		t.Fatalf("an old build started at cluster level 2: %v", err)
	}
	// The upgraded instance picks the level up and keeps serving.
	room := c.openRoom(upgraded, "after the upgrade")
	if _, err := retry(t, func() (schemas.JoinResult, error) {
		return upgraded.svc.Join(ctx, testCaller(16, "sixteen"), room)
	}); err != nil {
		t.Fatal(err)
	}
}

func TestCheckEmitRefusesEventsAboveTheClusterLevel(t *testing.T) {
	s := &Service{}
	s.level.Store(1)
	plain := schemas.MessageSent{Text: "hi", ClientMsgID: "c", Nickname: "n"}
	if err := s.checkEmit(plain); err != nil {
		t.Fatalf("a plain send at level 1 (written as v1): %v", err)
	}
	if err := s.checkEmit(schemas.MessageSent{Text: "hi", ClientMsgID: "c", Nickname: "n", Mentions: []schemas.ID{7}}); code(err) != schemas.CodeUnavailable {
		t.Fatalf("a send with mentions at level 1: %v, want refused", err)
	}
	if err := s.checkEmit(schemas.MessageEdited{}); code(err) != schemas.CodeUnavailable {
		t.Fatalf("an edit at level 1: %v, want refused", err)
	}
	if err := s.checkEmit(unknownEvent{}); code(err) != schemas.CodeUnavailable {
		t.Fatalf("an unknown event: %v, want refused", err)
	}
	s.level.Store(0) // not read yet: nothing may be emitted
	if err := s.checkEmit(plain); code(err) != schemas.CodeUnavailable {
		t.Fatalf("before the level is known: %v, want refused", err)
	}
}

func TestCreateRoomIsIdempotentUnderAKey(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	create := func(in *instance, who Caller, key, title string) (schemas.Room, error) {
		return retry(t, func() (schemas.Room, error) {
			r, _, err := in.svc.CreateRoom(ctx, who, key, title, "")
			return r, err
		})
	}
	admin, user := Caller{Admin: true, Token: testAdmin}, testCaller(17, "seventeen")
	first, err := create(a, admin, "create-1", "Happy dogs")
	if err != nil {
		t.Fatal(err)
	}
	// The client retries (its answer was lost), through another instance.
	again, err := create(b, admin, "create-1", "Happy dogs")
	if err != nil || again.ID != first.ID || again.Status != schemas.RoomStatusOpen {
		t.Fatalf("retry: %v %+v, want room %d", err, again, first.ID)
	}
	// Another key, or another caller with the same key, is another room.
	other, err := create(a, admin, "create-2", "Happy dogs")
	if err != nil || other.ID == first.ID {
		t.Fatalf("another key: %v %+v", err, other)
	}
	proposal, err := create(a, user, "create-1", "Happy dogs")
	if err != nil || proposal.ID == first.ID || proposal.Status != schemas.RoomStatusProposed {
		t.Fatalf("the same key from another caller: %v %+v", err, proposal)
	}
	if _, _, err := a.svc.CreateRoom(ctx, admin, "create-1", "Different title", ""); code(err) != schemas.CodeConflict {
		t.Fatalf("the key reused for another room: %v, want conflict", err)
	}
	if _, _, err := a.svc.CreateRoom(ctx, admin, "bad key!", "x", ""); code(err) != schemas.CodeBadRequest {
		t.Fatalf("a malformed key: %v, want bad request", err)
	}
	created := 0
	for _, e := range c.readAll() {
		if _, ok := e.Payload.(schemas.RoomCreated); ok && e.RoomID == first.ID {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("room %d created %d times, want once", first.ID, created)
	}
}

func TestPoisonAndStaleUnknownEventsAreSkipped(t *testing.T) {
	c := newCluster(t, 1)
	a := c.start(0, 20)
	c.waitOwned(a)
	room := c.openRoom(a, "poison")
	user := testCaller(18, "eighteen")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c.join(ctx, a, user, room)
	// Garbage, and an unknown event naming a seq the room already has:
	// neither can be the room's next event, so neither stops it.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range []string{
		`{"id":"1","type":"message.sent","version":1,"room_id":"` + room.String() + `","seq":`,
		`{"id":"7","type":"message.exploded","version":1,"room_id":"` + room.String() + `","seq":1,"occurred_at":"2026-11-22T21:21:13.123Z","payload":{}}`,
	} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: c.names.Rooms, Partition: 0, Key: schemas.Key(room), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sendN(t, a, user, room, 5)
	if err := a.svc.fold.parts[0].blockedErr(); err != nil {
		t.Fatalf("blocked by poison: %v", err)
	}
	if got := testutil.ToFloat64(a.svc.metrics.poison); got != 2 {
		t.Fatalf("%v records counted as poison, want 2", got)
	}
	// A new owner's takeover replays past them too.
	a.stop()
	b := c.start(1, 20)
	c.waitOwned(b)
	if _, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, user, room, "after", "after-poison") }); err != nil {
		t.Fatal(err)
	}
}

// unknownEvent is an event type no registry knows.
type unknownEvent struct{}

func (unknownEvent) EventType() string { return "no.such.event" }
