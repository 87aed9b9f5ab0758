package command

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/pgtest"
	"happychat/internal/testenv"
	"happychat/schemas"
	"happychat/schemas/token"
)

// Integration tests: they need a real Kafka broker (KAFKA_BROKERS, default
// the one deploy/local starts) and run two command instances side by side.

// newStore returns a pool on a fresh PostgreSQL database (PG_URL, default
// the one deploy/local starts), dropped at the end of the test.
func newStore(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := pgtest.Database(t, testenv.PGURL(), "cmdtest_")
	return pool
}

// unusedStore is a pool that is never connected: for tests of a service
// that is built but not run.
// testCaller is a user as the HTTP routes build one, with a token of the
// test secret: a command forwarded to another instance carries it, and the
// owner verifies it again.
func testCaller(id schemas.ID, nickname string) Caller {
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		panic(err)
	}
	tok, _, err := keys.Issue(id, nickname)
	if err != nil {
		panic(err)
	}
	return Caller{UserID: id, Nickname: nickname, Token: tok}
}

func unusedStore(t testing.TB) *pgxpool.Pool {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// cluster is a topic set plus command instances serving real HTTP.
type cluster struct {
	t       testing.TB
	brokers []string
	names   schemas.Names
	keys    *token.Keys
	parts   int
	admin   *kadm.Client
	store   *pgxpool.Pool
}

const (
	testAdmin  = "test-admin-token-0123456789abcdefghij"
	testSecret = "test-token-secret-0123456789"
)

func newCluster(t testing.TB, parts int) *cluster {
	return newClusterOn(t, testenv.Kafka(t), parts, 1)
}

// newClusterOn creates the topics on the given brokers with replication
// factor rf (3 on the local 3-broker cluster, whose min.insync.replicas is 2).
func newClusterOn(t testing.TB, b []string, parts int, rf int16) *cluster {
	names := schemas.NamesFor(testenv.RandomName("t"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for topic, n := range map[string]int{names.Rooms: parts, names.Users: 2} {
		if _, err := adm.CreateTopic(ctx, int32(n), rf, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, names.Rooms, names.Users)
	})
	// Wait until the new topics have leaders everywhere.
	for {
		details, err := adm.ListTopics(ctx, names.Rooms, names.Users)
		ready := err == nil && len(details) == 2
		for _, d := range details {
			ready = ready && d.Err == nil && len(d.Partitions) > 0
		}
		if ready {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	keys, err := token.New(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, brokers: b, names: names, keys: keys, parts: parts, admin: adm, store: newStore(t)}
}

// instance is one running command service.
type instance struct {
	svc    *Service
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func (c *cluster) start(id int, capacity int) *instance {
	c.t.Helper()
	return c.startWith(id, func(cfg *Config) { cfg.Capacity = capacity })
}

// startWith starts a command instance with the cluster's settings, adjusted
// by mutate, serving real HTTP on a loopback port.
func (c *cluster) startWith(id int, mutate func(*Config)) *instance {
	c.t.Helper()
	cfg := Config{
		Brokers: c.brokers, Names: c.names, InstanceID: id, InternalSecret: testSecret + "-internal",
		Keys: c.keys, AdminToken: testAdmin, Capacity: 20, Rules: plainRules{}, Store: c.store,
		SendRate: 1000, SendBurst: 1000, JoinRate: 1000, JoinBurst: 1000,
	}
	mutate(&cfg)
	svc, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	// One listener for both sets of routes: the address the instance
	// advertises takes forwarded commands and public requests alike.
	engine := bothListeners(svc)
	engine.GET("/healthz", func(g *gin.Context) { g.String(http.StatusOK, "ok\n") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	srv := &http.Server{Handler: engine, MaxHeaderBytes: 64 << 10, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{svc: svc, addr: ln.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		if err := svc.Run(ctx, in.addr); err != nil {
			c.t.Errorf("instance %d: %v", id, err)
		}
		_ = srv.Close()
	}()
	c.t.Cleanup(in.stop)
	return in
}

func (in *instance) stop() {
	in.cancel()
	<-in.done
}

// waitOwned waits until the instances together own every partition.
func (c *cluster) waitOwned(ins ...*instance) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		n, idle := 0, 0
		for _, in := range ins {
			mine := 0
			in.svc.omu.Lock()
			for _, o := range in.svc.owners {
				if o.ready.Load() {
					n++
					mine++
				}
			}
			in.svc.omu.Unlock()
			if mine == 0 {
				idle++
			}
		}
		// Every instance must own something when there are partitions
		// enough, so that requests really cross instances.
		if n == c.parts && (idle == 0 || c.parts < len(ins)) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var held []string
	for i, in := range ins {
		in.svc.omu.Lock()
		parts := slices.Sorted(maps.Keys(in.svc.owners))
		in.svc.omu.Unlock()
		held = append(held, fmt.Sprintf("instance %d: %v", i, parts))
	}
	c.t.Fatalf("partitions were not all owned (once) in time; owners: %s", strings.Join(held, ", "))
}

// retry runs f until it stops failing with unavailable (rebalances).
func retry[T any](t testing.TB, f func() (T, error)) (T, error) {
	t.Helper()
	var (
		v   T
		err error
	)
	for range 100 {
		v, err = f()
		if code(err) != schemas.CodeUnavailable {
			return v, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return v, err
}

func (c *cluster) openRoom(in *instance, title string) schemas.ID {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	room, err := retry(c.t, func() (schemas.Room, error) {
		r, _, err := in.svc.CreateRoom(ctx, Caller{Admin: true, Token: testAdmin}, "", title, "")
		return r, err
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return room.ID
}

// join makes user a member of room through in, retrying while partitions
// move.
func (c *cluster) join(ctx context.Context, in *instance, user Caller, room schemas.ID) {
	c.t.Helper()
	if _, err := retry(c.t, func() (schemas.JoinResult, error) { return in.svc.Join(ctx, user, room) }); err != nil {
		c.t.Fatal(err)
	}
}

// soleOwnerRoom waits until in owns every partition, opens a room there
// and makes a user of the given id a member of it.
func (c *cluster) soleOwnerRoom(ctx context.Context, in *instance, title string, id schemas.ID) (schemas.ID, Caller) {
	c.t.Helper()
	c.waitOwned(in)
	room := c.openRoom(in, title)
	user := testCaller(id, fmt.Sprint("u", id))
	c.join(ctx, in, user, room)
	return room, user
}

// onceInLog fails the test unless the log holds exactly one message with
// clientMsgID, with the id its retry was answered with.
func onceInLog(t *testing.T, events []schemas.Envelope, clientMsgID string, id schemas.ID) {
	t.Helper()
	n := 0
	for _, e := range events {
		if s, ok := e.Payload.(schemas.MessageSent); ok && s.ClientMsgID == clientMsgID {
			n++
			if e.ID != id {
				t.Fatalf("the retry of %s answered %d, the log holds %d", clientMsgID, id, e.ID)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d copies of %s in the log, want 1", n, clientMsgID)
	}
}

// readAll reads every committed record of the rooms topic and decodes it.
func (c *cluster) readAll() []schemas.Envelope {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []schemas.Envelope
	err := logread.Read(ctx, c.brokers, c.names.Rooms, logread.HighWatermark, func(r *kgo.Record) error {
		e, err := schemas.Events.Decode(r.Value)
		if errors.Is(err, schemas.ErrUnknownEvent) {
			return nil // written by a test on purpose, as a newer build would
		}
		if err != nil {
			return fmt.Errorf("undecodable record at %d/%d: %w", r.Partition, r.Offset, err)
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// checkRoomLog folds the log per room and checks the invariants: seq 1..n
// without gaps, members never above capacity at any prefix, one message per
// (user, client_msg_id).
func checkRoomLog(t *testing.T, events []schemas.Envelope, capacity int) map[schemas.ID]map[schemas.ID]bool {
	t.Helper()
	seqs := map[schemas.ID]int64{}
	ids := map[schemas.ID]schemas.ID{}
	members := map[schemas.ID]map[schemas.ID]bool{}
	sentOnce := map[string]schemas.ID{}
	for _, e := range events {
		if e.Seq != seqs[e.RoomID]+1 {
			t.Fatalf("room %d: seq %d after %d", e.RoomID, e.Seq, seqs[e.RoomID])
		}
		if e.ID <= ids[e.RoomID] {
			t.Fatalf("room %d: id %d at seq %d is not above the previous id %d", e.RoomID, e.ID, e.Seq, ids[e.RoomID])
		}
		seqs[e.RoomID], ids[e.RoomID] = e.Seq, e.ID
		if members[e.RoomID] == nil {
			members[e.RoomID] = map[schemas.ID]bool{}
		}
		switch p := e.Payload.(type) {
		case schemas.RoomJoined, schemas.MemberAdded:
			members[e.RoomID][e.UserID] = true
			if n := len(members[e.RoomID]); n > capacity {
				t.Fatalf("room %d has %d members at seq %d, capacity %d", e.RoomID, n, e.Seq, capacity)
			}
		case schemas.RoomLeft:
			delete(members[e.RoomID], e.UserID)
		case schemas.MessageSent:
			k := fmt.Sprint(e.RoomID, "/", e.UserID, "/", p.ClientMsgID)
			if prev, ok := sentOnce[k]; ok {
				t.Fatalf("client_msg_id %s appended twice: %d and %d", k, prev, e.ID)
			}
			sentOnce[k] = e.ID
		}
	}
	return members
}

func TestConcurrentJoinsRespectCapacityAcrossInstances(t *testing.T) {
	c := newCluster(t, 4)
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	room := c.openRoom(a, "Happy cats")

	const joiners = 200
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		ok, full     int
		otherFailure []error
	)
	for i := range joiners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := a
			if i%2 == 1 {
				in = b
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, err := retry(t, func() (schemas.JoinResult, error) {
				return in.svc.Join(ctx, testCaller(schemas.ID(1_000_000+i), fmt.Sprint("user", i)), room)
			})
			mu.Lock()
			defer mu.Unlock()
			switch code(err) {
			case "":
				ok++
			case schemas.CodeRoomFull:
				full++
			default:
				otherFailure = append(otherFailure, err)
			}
		}()
	}
	wg.Wait()
	if len(otherFailure) > 0 {
		t.Fatalf("unexpected failures: %v", otherFailure[:min(5, len(otherFailure))])
	}
	if ok != 20 || full != joiners-20 {
		t.Fatalf("joined %d, room_full %d; want 20 and %d", ok, full, joiners-20)
	}
	members := checkRoomLog(t, c.readAll(), 20)
	if n := len(members[room]); n != 20 {
		t.Fatalf("the log folds to %d members, want 20", n)
	}
}

func TestOneUserJoiningFiftyRoomsEndsInOne(t *testing.T) {
	c := newCluster(t, 4)
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	var rooms []schemas.ID
	for i := range 50 {
		rooms = append(rooms, c.openRoom([]*instance{a, b}[i%2], fmt.Sprint("room ", i)))
	}
	user := testCaller(4242, "hopper")
	var wg sync.WaitGroup
	errs := make(chan error, len(rooms))
	for i, r := range rooms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := []*instance{a, b}[i%2]
			if _, err := retry(t, func() (schemas.JoinResult, error) { return in.svc.Join(ctx, user, r) }); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("join: %v", err)
	}
	// The owners of the superseded rooms append the switch-leaves; wait
	// until the log folds the user into exactly one room.
	deadline := time.Now().Add(60 * time.Second)
	for {
		members := checkRoomLog(t, c.readAll(), 20)
		in := 0
		for _, r := range rooms {
			if members[r][user.UserID] {
				in++
			}
		}
		if in == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log folds the user into %d rooms, want 1", in)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The user may post only in that room.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	posted := 0
	for i, r := range rooms {
		_, err := retry(t, func() (schemas.Message, error) {
			return []*instance{a, b}[i%2].svc.Send(ctx, user, r, "hello", fmt.Sprint("m", i))
		})
		switch code(err) {
		case "":
			posted++
		case schemas.CodeForbidden:
		default:
			t.Fatalf("send: %v", err)
		}
	}
	if posted != 1 {
		t.Fatalf("posted in %d rooms, want 1", posted)
	}
}

func TestStaleOwnerIsFenced(t *testing.T) {
	c := newCluster(t, 1)
	a := c.start(0, 20)
	c.waitOwned(a)
	room := c.openRoom(a, "fenced")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := testCaller(7, "seven")
	if _, err := a.svc.Join(ctx, user, room); err != nil {
		t.Fatal(err)
	}
	// A new owner of partition 0 initialises the partition's transactional
	// id, as it does on takeover: a is now stale without knowing it.
	newOwner, _, err := a.svc.txnClient(0)
	if err != nil {
		t.Fatal(err)
	}
	defer newOwner.Close()
	if _, _, err := newOwner.ProducerID(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = a.svc.Send(ctx, user, room, "from a zombie", "zombie-1")
	if code(err) != schemas.CodeUnavailable {
		t.Fatalf("stale owner's send answered %v, want unavailable", err)
	}
	for _, e := range c.readAll() {
		if m, ok := e.Payload.(schemas.MessageSent); ok && m.ClientMsgID == "zombie-1" {
			t.Fatal("the fenced write reached the log")
		}
	}
}

func TestTakeoverKeepsSeqAndIdempotency(t *testing.T) {
	c := newCluster(t, 2)
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	room := c.openRoom(a, "takeover")
	user := testCaller(9, "nine")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c.join(ctx, b, user, room)
	first := map[string]schemas.ID{}
	for i := range 20 {
		id := fmt.Sprint("msg-", i)
		m, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, user, room, "hi", id) })
		if err != nil {
			t.Fatal(err)
		}
		first[id] = m.ID
	}
	// Stop whichever instance owns the room; the other takes over.
	owner, other := a, b
	if b.svc.ownerOf(b.svc.partitionOf(room)) != nil {
		owner, other = b, a
	}
	owner.stop()
	c.waitOwned(other)
	for id, want := range first {
		m, err := retry(t, func() (schemas.Message, error) { return other.svc.Send(ctx, user, room, "retry", id) })
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != want || m.Body != "hi" {
			t.Fatalf("retry of %s after takeover got %d %q, want %d", id, m.ID, m.Body, want)
		}
	}
	after, err := retry(t, func() (schemas.Message, error) { return other.svc.Send(ctx, user, room, "new", "after") })
	if err != nil {
		t.Fatal(err)
	}
	events := c.readAll()
	checkRoomLog(t, events, 20)
	n := 0
	var inLog []string // client_msg_id@seq, to tell which one is missing
	for _, e := range events {
		if p, ok := e.Payload.(schemas.MessageSent); ok && e.RoomID == room {
			n++
			inLog = append(inLog, fmt.Sprintf("%s@%d", p.ClientMsgID, e.Seq))
		}
	}
	if n != 21 {
		t.Fatalf("%d messages in the log, want 21 (the 20 first and \"after\", acknowledged as id %d, seq %d): %v\n"+
			"the partition as written (read uncommitted):\n%s",
			n, after.ID, after.Seq, inLog, c.dumpPartition(other.svc.partitionOf(room)))
	}
}

// dumpPartition lists every record of a room partition as written, aborted
// ones and transaction markers included (read uncommitted): what a failed
// count of the committed log is to be compared with.
func (c *cluster) dumpPartition(part int32) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.names.Rooms: {part: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, c.names.Rooms)
	if err != nil {
		return err.Error()
	}
	end, _ := ends.Lookup(c.names.Rooms, part)
	var b strings.Builder
	for pos := int64(0); pos < end.Offset && ctx.Err() == nil; {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			pos = r.Offset + 1
			fmt.Fprintf(&b, "  %d pid %d/%d", r.Offset, r.ProducerID, r.ProducerEpoch)
			if r.Attrs.IsControl() {
				kind := "commit"
				if len(r.Key) >= 4 && r.Key[3] == 0 {
					kind = "abort"
				}
				fmt.Fprintf(&b, " %s marker\n", kind)
				return
			}
			e, err := schemas.Events.Decode(r.Value)
			if err != nil {
				fmt.Fprintf(&b, " undecodable: %v\n", err)
				return
			}
			fmt.Fprintf(&b, " %s room %d seq %d id %d", e.Payload.EventType(), e.RoomID, e.Seq, e.ID)
			if m, ok := e.Payload.(schemas.MessageSent); ok {
				fmt.Fprintf(&b, " %s", m.ClientMsgID)
			}
			b.WriteString("\n")
		})
	}
	return b.String()
}
