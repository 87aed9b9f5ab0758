package command

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Instance transactions (docs/adr/0011) against the real broker: the
// writer's batches, a revoke while one is in flight, and a takeover from a
// dead instance whose transaction is still open. The failover and rolling
// restart tests run in this mode too (failover_test.go).

// instanceLevel raises the cluster's feature level so that the instances
// started after it append through their instance's transaction.
func (c *cluster) instanceLevel() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := SetFeatureLevel(ctx, c.store, c.names, instanceTxnLevel); err != nil {
		c.t.Fatal(err)
	}
}

// roomsOnEveryPartition opens a room on each partition, with one member.
func (c *cluster) roomsOnEveryPartition(ctx context.Context, in *instance, firstUser schemas.ID) ([]schemas.ID, []Caller) {
	c.t.Helper()
	var rooms []schemas.ID
	var users []Caller
	seen := map[int32]bool{}
	for i := 0; len(seen) < c.parts && i < 100; i++ {
		r := c.openRoom(in, fmt.Sprint("instance txn ", i))
		if p := schemas.Partition(r, c.parts); !seen[p] {
			seen[p] = true
			u := testCaller(firstUser+schemas.ID(len(rooms)), fmt.Sprint("u", len(rooms)))
			c.join(ctx, in, u, r)
			rooms, users = append(rooms, r), append(users, u)
		}
	}
	return rooms, users
}

func TestInstanceTransactionCommitsTheBatchesOfEveryOwner(t *testing.T) {
	c := newCluster(t, 4)
	c.instanceLevel()
	// Hold one transaction open so that the other owners' batches queue
	// behind it and go into the next one together.
	var hold atomic.Bool
	release := make(chan struct{})
	a := c.startWith(0, func(cfg *Config) {
		logged(cfg)
		cfg.hooks.beforeCommit = func(int32) {
			if hold.CompareAndSwap(true, false) {
				<-release
			}
		}
	})
	c.waitOwned(a)
	if !a.svc.instanceMode() {
		t.Fatal("at feature level 6 the owners must append through the instance's transaction")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rooms, users := c.roomsOnEveryPartition(ctx, a, 60)
	hold.Store(true)
	errs := make(chan error, len(rooms)*2)
	ids := map[string]schemas.ID{}
	idc := make(chan [2]any, len(rooms)*2)
	for i, r := range rooms {
		for k := range 2 {
			go func() {
				id := fmt.Sprint("batch-", i, "-", k)
				m, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, users[i], r, id, id) })
				if err == nil {
					idc <- [2]any{id, m.ID}
				}
				errs <- err
			}()
		}
	}
	time.Sleep(500 * time.Millisecond) // the others' batches queue behind the held one
	close(release)
	for range len(rooms) * 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		p := <-idc
		ids[p[0].(string)] = p[1].(schemas.ID)
	}
	events := c.readAll()
	checkRoomLog(t, events, 20)
	for id, mid := range ids {
		onceInLog(t, events, id, mid)
	}
	// Batches per instance transaction: some transaction carried the
	// batches of several owners.
	var m dto.Metric
	if err := a.svc.metrics.instanceTxnBatches.Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetSampleCount() == 0 || h.GetSampleSum() <= float64(h.GetSampleCount()) {
		t.Fatalf("%d instance transactions carried %v owners' batches: none carried more than one", h.GetSampleCount(), h.GetSampleSum())
	}
	t.Logf("%d instance transactions, %v owners' batches", h.GetSampleCount(), h.GetSampleSum())
}

// A revoke while the instance's transaction is in flight: the session
// aborts it, the revoke does not wait for its end (which waits for the
// revoke: a deadlock), and the send is answered "saved nothing", then
// succeeds once on retry.
func TestRevokeDuringAnInstanceTransactionAbortsIt(t *testing.T) {
	c := newCluster(t, 2)
	c.instanceLevel()
	var hold atomic.Bool
	reached, release := make(chan struct{}, 1), make(chan struct{})
	a := c.startWith(0, func(cfg *Config) {
		logged(cfg)
		cfg.hooks.beforeCommit = func(int32) {
			if hold.CompareAndSwap(true, false) {
				reached <- struct{}{}
				<-release
			}
		}
	})
	c.waitOwned(a)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	rooms, users := c.roomsOnEveryPartition(ctx, a, 70)
	hold.Store(true)
	answered := make(chan error, 1)
	go func() {
		_, err := a.svc.Send(ctx, users[0], rooms[0], "held across a revoke", "held")
		answered <- err
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the send's transaction never reached its commit")
	}
	// A second instance joins: a gives up one partition while its
	// transaction waits before its end.
	b := c.startWith(1, logged)
	deadline := time.Now().Add(60 * time.Second)
	for {
		b.svc.omu.Lock()
		n := len(b.svc.owners)
		b.svc.omu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the rebalance did not complete while a transaction was in flight: the revoke waited for its end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(release)
	select {
	case err := <-answered:
		if code(err) != schemas.CodeUnavailable {
			t.Fatalf("the send whose transaction spanned a revoke answered %v, want unavailable", err)
		}
		if strings.Contains(err.Error(), "did not confirm") {
			t.Fatalf("the aborted transaction answered an unknown outcome: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the send whose transaction spanned a revoke was not answered")
	}
	c.waitOwned(a, b)
	m, err := retry(t, func() (schemas.Message, error) {
		return a.svc.Send(ctx, users[0], rooms[0], "held across a revoke", "held")
	})
	if err != nil {
		t.Fatalf("retry after the revoke: %v", err)
	}
	for i := range rooms {
		id := fmt.Sprint("after-", i)
		if _, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, users[i], rooms[i], id, id) }); err != nil {
			t.Fatal(err)
		}
	}
	events := c.readAll()
	checkRoomLog(t, events, 20)
	onceInLog(t, events, "held", m.ID)
}

// A takeover from a dead instance whose transaction is still open on the
// partition: the new owner ends it (InitProducerID on the dead instance's
// id) instead of waiting for the transaction timeout, and it can never
// commit afterwards.
func TestTakeoverEndsADeadInstanceTransaction(t *testing.T) {
	c := newCluster(t, 1)
	c.instanceLevel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dead, err := kgo.NewClient(kgo.SeedBrokers(c.brokers...),
		kgo.TransactionalID(c.names.CommandGroup+instanceTxnPrefix+"dead.invalid:8081"),
		kgo.TransactionTimeout(5*time.Minute), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if err := dead.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: c.names.Rooms, Partition: 0, Value: []byte("the dead instance's last batch")}
	if err := dead.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	a := c.startWith(0, logged)
	room, user := c.soleOwnerRoom(ctx, a, "after a dead writer", 81)
	m, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, user, room, "after", "after") })
	if err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(a.svc.metrics.fencedWriters); n != 1 {
		t.Fatalf("%v writers fenced at the takeover, want 1", n)
	}
	if err := dead.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the dead instance's transaction committed after the partition was taken over")
	}
	offs, err := kadm.NewClient(dead).ListCommittedOffsets(ctx, c.names.Rooms)
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup(c.names.Rooms, 0); o.Offset <= rec.Offset {
		t.Fatalf("last stable offset %d: still held by the dead transaction at %d", o.Offset, rec.Offset)
	}
	events := c.readAll() // decodes every committed record: the dead one is not among them
	checkRoomLog(t, events, 20)
	onceInLog(t, events, "after", m.ID)
}
