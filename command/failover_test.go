package command

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/internal/kafkacluster"
	"happychat/internal/testenv"
	"happychat/schemas"
)

// Failover tests on the local 3-broker cluster (docs/cluster.md): two
// command instances under load while a broker that matters dies; every
// partition must answer again, and every acknowledged send must be in the
// log exactly once, with each room's seq gap-free and ids increasing.

// sendLoad sends messages to rooms from users, each user one message after
// the other, retrying a refused send with the same client_msg_id (as a
// client would), and records what was acknowledged.
type sendLoad struct {
	t     *testing.T
	mu    sync.Mutex
	acked map[string]schemas.ID // room/user/client_msg_id -> message id
	last  map[schemas.ID]time.Time
	gap   map[schemas.ID]time.Duration // longest time without an ack, per room
	fatal atomic.Value
	// unknown counts sends answered "the event log did not confirm the
	// write": an unknown outcome, which a clean handoff must never give.
	unknown atomic.Int64
	// live are the instances the users send through (a restarted
	// instance's clients move to another).
	live atomic.Pointer[[]*instance]
	stop chan struct{}
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, ins []*instance, rooms []schemas.ID, perRoom int) *sendLoad {
	l := &sendLoad{t: t, acked: map[string]schemas.ID{}, last: map[schemas.ID]time.Time{},
		gap: map[schemas.ID]time.Duration{}, stop: make(chan struct{})}
	l.live.Store(&ins)
	now := time.Now()
	for _, r := range rooms {
		l.last[r] = now
	}
	for ri, room := range rooms {
		for u := range perRoom {
			user := testCaller(schemas.ID(1000+ri*perRoom+u), fmt.Sprint("u", u))
			l.wg.Add(1)
			go l.user(ri+u, room, user)
		}
	}
	return l
}

func (l *sendLoad) setLive(ins []*instance) { l.live.Store(&ins) }

func (l *sendLoad) user(k int, room schemas.ID, user Caller) {
	defer l.wg.Done()
	for i := 0; ; {
		select {
		case <-l.stop:
			return
		case <-time.After(40 * time.Millisecond):
		}
		id := fmt.Sprint("m", i)
		live := *l.live.Load()
		in := live[k%len(live)]
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		m, err := in.svc.Send(ctx, user, room, "load "+id, id)
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			now := time.Now()
			if g := now.Sub(l.last[room]); g > l.gap[room] {
				l.gap[room] = g
			}
			l.last[room] = now
			l.acked[fmt.Sprint(room, "/", user.UserID, "/", id)] = m.ID
			l.mu.Unlock()
			i++
		case code(err) == schemas.CodeUnavailable:
			// retried with the same client_msg_id
			if strings.Contains(err.Error(), "did not confirm") {
				if l.unknown.Add(1) <= 5 {
					l.t.Logf("%s: send %s in room %d (partition %d) through instance %d: %v",
						time.Now().Format("15:04:05.000"), id, room, schemas.Partition(room, in.svc.partitions), in.svc.cfg.InstanceID, err)
				}
			}
		default:
			l.fatal.Store(fmt.Sprintf("send %s in room %d: %v", id, room, err))
			return
		}
	}
}

// finish stops the load and checks the log against what was acknowledged.
func (l *sendLoad) finish(c *cluster, faultAt time.Time) {
	t := l.t
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if f := l.fatal.Load(); f != nil {
		t.Fatal(f)
	}
	events := c.readAll()
	checkRoomLog(t, events, 20) // gap-free seq, increasing ids, no client_msg_id twice
	inLog := map[string]schemas.ID{}
	for _, e := range events {
		if m, ok := e.Payload.(schemas.MessageSent); ok {
			inLog[fmt.Sprint(e.RoomID, "/", e.UserID, "/", m.ClientMsgID)] = e.ID
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, id := range l.acked {
		if got, ok := inLog[k]; !ok || got != id {
			t.Fatalf("acknowledged send %s (id %d) is not in the log (found %d): lost", k, id, got)
		}
	}
	var worst time.Duration
	for room, last := range l.last {
		if !last.After(faultAt) {
			t.Fatalf("room %d (partition %d) never answered after the fault", room, schemas.Partition(room, c.parts))
		}
		worst = max(worst, l.gap[room])
	}
	t.Logf("%d sends acknowledged, 0 lost, 0 duplicated; longest time without an acknowledged send in a room: %v",
		len(l.acked), worst.Round(10*time.Millisecond))
}

// failoverEnv is two command instances on the cluster, with rooms spread
// over the partitions and members in them.
func failoverEnv(t *testing.T, instanceTxn bool) (*kafkacluster.Cluster, *cluster, []*instance, []schemas.ID) {
	b := kafkacluster.Brokers(t)
	kc := kafkacluster.New(t, b)
	c := newClusterOn(t, b, 6, 3)
	if instanceTxn {
		c.instanceLevel()
	}
	ins, rooms := c.loadEnv(2, logged)
	return kc, c, ins, rooms
}

// logged sends an instance's log to stderr when TEST_COMMAND_LOG is set.
func logged(cfg *Config) {
	if os.Getenv("TEST_COMMAND_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("instance", cfg.InstanceID)
	}
}

// loadEnv starts n instances (configured by mutate) and opens a room on
// each partition, with three members each.
func (c *cluster) loadEnv(n int, mutate func(*Config)) ([]*instance, []schemas.ID) {
	t := c.t
	var ins []*instance
	for i := range n {
		ins = append(ins, c.startWith(i, mutate))
	}
	c.waitOwned(ins...)
	var rooms []schemas.ID
	parts := map[int32]bool{}
	for i := 0; len(parts) < c.parts && i < 100; i++ {
		r := c.openRoom(ins[0], fmt.Sprint("failover ", i))
		if p := schemas.Partition(r, c.parts); !parts[p] {
			parts[p] = true
			rooms = append(rooms, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const perRoom = 3
	for ri, room := range rooms {
		for u := range perRoom {
			user := testCaller(schemas.ID(1000+ri*perRoom+u), fmt.Sprint("u", u))
			if _, err := retry(t, func() (schemas.JoinResult, error) { return ins[u%len(ins)].svc.Join(ctx, user, room) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ins, rooms
}

func TestFailoverUnderLoad(t *testing.T) {
	// mostOf is the broker coordinating most of the given transactional ids.
	mostOf := func(ctx context.Context, kc *kafkacluster.Cluster, ids []string) (int32, error) {
		count := map[int32]int{}
		var best int32
		for _, txn := range ids {
			id, err := kc.TxnCoordinator(ctx, txn)
			if err != nil {
				return 0, err
			}
			if count[id]++; count[id] > count[best] {
				best = id
			}
		}
		return best, nil
	}
	faults := []struct {
		name   string
		target brokerTarget
		clean  bool
	}{
		{"partition leader killed", func(ctx context.Context, kc *kafkacluster.Cluster, c *cluster, _ []*instance) (int32, error) {
			return kc.LeaderOfMost(ctx, c.names.Rooms)
		}, false},
		{"partition leader stopped cleanly", func(ctx context.Context, kc *kafkacluster.Cluster, c *cluster, _ []*instance) (int32, error) {
			return kc.LeaderOfMost(ctx, c.names.Rooms)
		}, true},
		{"transaction coordinator killed", func(ctx context.Context, kc *kafkacluster.Cluster, c *cluster, ins []*instance) (int32, error) {
			// The broker coordinating most of the transactional ids in
			// use: the owners' per partition, or the instances'.
			var ids []string
			if ins[0].svc.instanceMode() {
				for _, in := range ins {
					ids = append(ids, in.svc.instanceTxnID())
				}
			} else {
				for p := range c.parts {
					ids = append(ids, c.names.CommandGroup+".p"+fmt.Sprint(p))
				}
			}
			return mostOf(ctx, kc, ids)
		}, false},
		{"group coordinator killed", func(ctx context.Context, kc *kafkacluster.Cluster, c *cluster, _ []*instance) (int32, error) {
			return kc.GroupCoordinator(ctx, c.names.CommandGroup)
		}, false},
	}
	for _, mode := range []struct {
		name        string
		instanceTxn bool
	}{{"partition transactions", false}, {"instance transactions", true}} {
		for _, f := range faults {
			t.Run(mode.name+"/"+f.name, func(t *testing.T) {
				if mode.instanceTxn && f.name != "group coordinator killed" {
					testenv.Long(t, "the chaos suite runs this fault at the build's level (instance transactions) in make test")
				}
				failover(t, mode.instanceTxn, f.target, f.clean)
			})
		}
	}
}

// brokerTarget picks the broker a failover test takes down.
type brokerTarget func(ctx context.Context, kc *kafkacluster.Cluster, c *cluster, ins []*instance) (int32, error)

// failover runs the load on two instances, takes the target broker down
// (SIGKILL, or a clean stop) for 12 s, and checks the log.
func failover(t *testing.T, instanceTxn bool, target brokerTarget, clean bool) {
	kc, c, ins, rooms := failoverEnv(t, instanceTxn)
	l := startLoad(t, ins, rooms, 3)
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if ins[0].svc.instanceMode() != instanceTxn {
		t.Fatalf("instance transactions: %v, want %v", ins[0].svc.instanceMode(), instanceTxn)
	}
	broker, err := target(ctx, kc, c, ins)
	if err != nil {
		t.Fatal(err)
	}
	faultAt := time.Now()
	if clean {
		kc.Stop(broker)
	} else {
		kc.Kill(broker)
	}
	t.Logf("broker %d down", broker)
	time.Sleep(12 * time.Second)
	kc.Start(broker)
	time.Sleep(3 * time.Second)
	l.finish(c, faultAt)
}

// moves returns how many partitions the group moved to or from an instance:
// a rebalance that touches it changes the count.
func moves(in *instance) float64 {
	var n float64
	for _, ev := range []string{"assigned", "revoked", "lost"} {
		n += testutil.ToFloat64(in.svc.metrics.partitionMoves.WithLabelValues(ev))
	}
	return n
}

func TestOwnerRecoversFromATimedOutTransactionWithoutARebalance(t *testing.T) {
	b := kafkacluster.Brokers(t)
	kafkacluster.New(t, b) // takes the cluster: no other test's fault is in progress
	c := newClusterOn(t, b, 1, 3)
	var stall atomic.Bool
	a := c.startWith(0, func(cfg *Config) {
		cfg.TransactionTimeout = 2 * time.Second
		logged(cfg)
		cfg.hooks.beforeCommit = func(int32) {
			if stall.CompareAndSwap(true, false) {
				// Past the transaction timeout: the coordinator aborts the
				// transaction and bumps the epoch (the broker checks every
				// second on the local cluster).
				time.Sleep(5 * time.Second)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	room, user := c.soleOwnerRoom(ctx, a, "timeout", 21)
	gen := moves(a)
	o := a.svc.ownerOf(0)
	stall.Store(true)
	_, err := a.svc.Send(ctx, user, room, "stalled", "stalled")
	if code(err) != schemas.CodeUnavailable {
		t.Fatalf("the timed-out send answered %v, want unavailable", err)
	}
	// The owner recovers by itself: the retry and new sends succeed.
	m, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, user, room, "stalled", "stalled") })
	if err != nil {
		t.Fatalf("retry after the timeout: %v", err)
	}
	if _, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, user, room, "next", "next") }); err != nil {
		t.Fatal(err)
	}
	if g := moves(a); g != gen || a.svc.ownerOf(0) != o {
		t.Fatalf("recovered through a rebalance (partition moves %v -> %v): it must recover by itself", gen, g)
	}
	onceInLog(t, c.readAll(), "stalled", m.ID)
	t.Logf("owner restarts: %v", testutil.ToFloat64(a.svc.metrics.ownerRestarts))
}

func TestOwnerRecoversFromAnExpiredTransactionalID(t *testing.T) {
	b := kafkacluster.Brokers(t)
	kafkacluster.New(t, b) // takes the cluster: no other test's fault is in progress
	c := newClusterOn(t, b, 1, 3)
	a := c.start(0, 20)
	c.waitOwned(a)
	room := c.openRoom(a, "expiry")
	user := testCaller(22, "tt")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c.join(ctx, a, user, room)
	gen := moves(a)
	o := a.svc.ownerOf(0)
	// make test sets transactional.id.expiration.ms=20000 on the cluster
	// (cleanup every second): stay idle past it.
	time.Sleep(24 * time.Second)
	for i := range 5 {
		id := fmt.Sprint("after-idle-", i)
		if _, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, user, room, "back", id) }); err != nil {
			t.Fatalf("send after the transactional id expired: %v", err)
		}
	}
	if g := moves(a); g != gen || a.svc.ownerOf(0) != o {
		t.Fatalf("recovered through a rebalance (partition moves %v -> %v): it must recover by itself", gen, g)
	}
	checkRoomLog(t, c.readAll(), 20)
	t.Logf("owner restarts: %v", testutil.ToFloat64(a.svc.metrics.ownerRestarts))
}

func TestRollingRestartOfCommandInstancesUnderLoad(t *testing.T) {
	t.Run("partition transactions", func(t *testing.T) { rollingRestart(t, false) })
	t.Run("instance transactions", func(t *testing.T) { rollingRestart(t, true) })
}

func rollingRestart(t *testing.T, instanceTxn bool) {
	c := newCluster(t, 6)
	if instanceTxn {
		c.instanceLevel()
	}
	// A write that outlasts the write timeout is answered "unknown
	// outcome". A clean restart must hold no write up, e.g. behind a dead
	// transaction (the transaction timeout, 15 s); a loaded machine may
	// still make one write slow (a CI run at load average 9 saw one take
	// more than the default 3 s). A 10 s timeout tells the two apart.
	deploy := func(cfg *Config) {
		logged(cfg)
		cfg.WriteTimeout = 10 * time.Second
	}
	ins, rooms := c.loadEnv(3, deploy)
	if ins[0].svc.instanceMode() != instanceTxn {
		t.Fatalf("instance transactions: %v, want %v", ins[0].svc.instanceMode(), instanceTxn)
	}
	l := startLoad(t, ins, rooms, 3)
	time.Sleep(2 * time.Second)
	start := time.Now()
	for i := range ins {
		// A deploy: clients leave the instance, it stops cleanly, its
		// replacement starts (same instance id, released by the stop), and
		// the next goes once every partition is owned again.
		var others []*instance
		for j, in := range ins {
			if j != i {
				others = append(others, in)
			}
		}
		l.setLive(others)
		ins[i].stop()
		ins[i] = c.startWith(i, deploy)
		c.waitOwned(ins...)
		l.setLive(ins)
		time.Sleep(2 * time.Second)
	}
	l.finish(c, start)
	if n := l.unknown.Load(); n > 0 {
		t.Fatalf("%d sends got an unknown outcome during a clean rolling restart", n)
	}
}
