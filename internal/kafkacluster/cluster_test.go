package kafkacluster_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/kafkacluster"
)

// Generous bounds: the cluster shares two cores with the tests (and -race).
const (
	failoverWait = 90 * time.Second
	testWait     = 4 * time.Minute
)

// newTopic creates a topic with the given partitions and 3 replicas, and
// deletes it when the test ends.
func newTopic(t *testing.T, brokers []string, partitions int32) string {
	t.Helper()
	adm, err := kadm.NewOptClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	topic := "kafkacluster-test-" + rand.Text()[:10]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, kafkacluster.Replicas, nil, topic); err != nil {
		adm.Close()
		t.Fatalf("create topic %s: %v", topic, err)
	}
	t.Cleanup(func() {
		defer adm.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := adm.DeleteTopic(ctx, topic); err != nil {
			t.Logf("delete topic %s: %v", topic, err)
		}
	})
	return topic
}

// produceAll produces one record with acks=all to every partition.
func produceAll(ctx context.Context, t *testing.T, brokers []string, topic string, partitions int32) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.DialTimeout(3*time.Second),
		// a paused leader is given up on sooner than after 10s+10s
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RequestTimeoutOverhead(3*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, partitions)
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "record for %d", p)})
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce with acks=all to %s: %v", topic, err)
	}
	t.Logf("produced to the %d partitions of %s with acks=all (%v)", partitions, topic, time.Since(start).Round(time.Millisecond))
}

func TestKillLeaderFailsOver(t *testing.T) {
	brokers := kafkacluster.Brokers(t)
	c := kafkacluster.New(t, brokers)
	const partitions = 6
	topic := newTopic(t, brokers, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := c.WaitInSync(ctx, topic); err != nil {
		t.Fatal(err)
	}

	victim, err := c.LeaderOfMost(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var led []int32
	for p := range int32(partitions) {
		if l, err := c.PartitionLeader(ctx, topic, p); err != nil {
			t.Fatal(err)
		} else if l == victim {
			led = append(led, p)
		}
	}
	if len(led) == 0 {
		t.Fatalf("broker %d leads most partitions of %s but PartitionLeader finds none", victim, topic)
	}
	t.Logf("killing broker %d, leader of partitions %v", victim, led)
	c.Kill(victim)
	if pid := c.PID(victim); pid != 0 {
		t.Fatalf("broker %d still has a process (pid %d) after Kill", victim, pid)
	}

	// Every partition it led gets a leader among the two others.
	killed := time.Now()
	fctx, fcancel := context.WithTimeout(ctx, failoverWait)
	defer fcancel()
	for _, p := range led {
		for {
			l, err := c.PartitionLeader(fctx, topic, p)
			if err != nil {
				t.Fatalf("partition %d: no new leader: %v", p, err)
			}
			if l != victim {
				if !slices.Contains(kafkacluster.NodeIDs, l) {
					t.Fatalf("partition %d: leader %d is not a node of the cluster", p, l)
				}
				break
			}
			select {
			case <-fctx.Done():
				t.Fatalf("partition %d still led by the killed broker %d", p, victim)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	t.Logf("partitions %v have new leaders %v after the kill", led, time.Since(killed).Round(time.Millisecond))

	// Two replicas are min.insync.replicas: acks=all still succeeds.
	pctx, pcancel := context.WithTimeout(ctx, failoverWait)
	defer pcancel()
	produceAll(pctx, t, brokers, topic, partitions)

	c.Start(victim) // waits until it is back in every ISR it belongs to
	if err := c.WaitInSync(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if pid := c.PID(victim); pid == 0 {
		t.Fatalf("broker %d has no process after Start", victim)
	}
}

func TestCoordinators(t *testing.T) {
	brokers := kafkacluster.Brokers(t)
	c := kafkacluster.New(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	id := rand.Text()[:10]

	txn, err := c.TxnCoordinator(ctx, "kafkacluster-test-txn-"+id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kafkacluster.NodeIDs, txn) {
		t.Errorf("transaction coordinator %d not in %v", txn, kafkacluster.NodeIDs)
	}
	group, err := c.GroupCoordinator(ctx, "kafkacluster-test-group-"+id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kafkacluster.NodeIDs, group) {
		t.Errorf("group coordinator %d not in %v", group, kafkacluster.NodeIDs)
	}
	ctl, err := c.ActiveController(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kafkacluster.NodeIDs, ctl) {
		t.Errorf("active controller %d not in %v", ctl, kafkacluster.NodeIDs)
	}
	t.Logf("transaction coordinator %d, group coordinator %d, active controller %d", txn, group, ctl)
}

// TestStopPauseAndCleanup: a stopped and a paused broker (one at a time)
// leave the topic writable with acks=all, and a broker a test leaves paused
// runs and is in sync again after that test's cleanup.
func TestStopPauseAndCleanup(t *testing.T) {
	brokers := kafkacluster.Brokers(t)
	const partitions = 3
	topic := newTopic(t, brokers, partitions)

	t.Run("stop and pause", func(t *testing.T) {
		c := kafkacluster.New(t, brokers)
		ctx, cancel := context.WithTimeout(context.Background(), testWait)
		defer cancel()
		if err := c.WaitInSync(ctx, topic); err != nil {
			t.Fatal(err)
		}

		c.Stop(2)
		if pid := c.PID(2); pid != 0 {
			t.Fatalf("broker 2 still runs (pid %d) after Stop", pid)
		}
		pctx, pcancel := context.WithTimeout(ctx, failoverWait)
		produceAll(pctx, t, brokers, topic, partitions)
		pcancel()
		c.Start(2)

		c.Pause(3)
		pctx, pcancel = context.WithTimeout(ctx, failoverWait)
		produceAll(pctx, t, brokers, topic, partitions)
		pcancel()
		// left paused on purpose: the cleanup resumes it
	})

	c := kafkacluster.New(t, brokers) // all three registered again
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := c.WaitInSync(ctx, topic); err != nil {
		t.Fatalf("after the subtest's cleanup: %v", err)
	}
	ids, err := c.Answering(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, kafkacluster.NodeIDs) {
		t.Errorf("brokers answering after the subtest's cleanup: %v, want %v", ids, kafkacluster.NodeIDs)
	}
}
