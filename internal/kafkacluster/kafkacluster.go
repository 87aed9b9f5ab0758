// Package kafkacluster is test support for the local 3-broker Apache Kafka
// cluster of deploy/local/kafka-cluster.sh (KRaft, nodes 1, 2 and 3, each a
// broker and a controller; replication factor 3, min.insync.replicas 2).
//
// The single node of deploy/local/kafka.sh cannot lose a broker and keep
// going; this cluster can. It is for integration tests of failover — a
// partition leader, a group coordinator or a transaction coordinator dying,
// stopping or hanging while the code under test keeps working — and for the
// chaos suite's cluster scenarios. docs/cluster.md describes the cluster.
//
// [Brokers] finds the cluster (or skips the test). [New] returns a [Cluster]
// that injects faults into single brokers (Kill, Stop, Pause; Start and Resume
// undo them) by running deploy/local/kafka-cluster.sh, each call waiting for
// what it promises, and that finds where things live (PartitionLeader,
// LeaderOfMost, TxnCoordinator, GroupCoordinator) so a test can aim its
// fault. Every broker a test took down is brought back by t.Cleanup.
// Outside a test (the chaos suite), [Open] returns the [Injector] that a
// Cluster wraps: the same faults and lookups returning errors, and Close
// bringing the brokers back.
//
// Fault injectors share one cluster per machine, so an Injector holds a
// machine-wide lock from Open (New) until Close (the test's cleanup): such
// tests, in one package or in several packages run in parallel by go test,
// and the chaos suite take turns.
// Tests that only read Brokers do not take the lock; they should tolerate one
// broker being down, which is what the cluster is for.
//
// The package imports franz-go and the standard library only.
package kafkacluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvBrokers names the environment variable with the cluster's bootstrap
// list (comma-separated); deploy/local/env.sh exports it.
const EnvBrokers = "KAFKA_CLUSTER_BROKERS"

// DefaultBrokers are the addresses of nodes 1, 2 and 3 that
// deploy/local/kafka-cluster.sh uses (its ports are defined in
// deploy/local/lib.sh).
var DefaultBrokers = []string{"127.0.0.1:29092", "127.0.0.1:29192", "127.0.0.1:29292"}

// NodeIDs are the node (and broker) ids of the cluster.
var NodeIDs = []int32{1, 2, 3}

// Replicas is the replication factor of the cluster's topics.
const Replicas = 3

const (
	pollEvery = 100 * time.Millisecond
	// DefaultTimeout bounds each fault operation of a Cluster (Kill, Stop,
	// Start, Pause, Resume and the waiting they do).
	DefaultTimeout = 2 * time.Minute
	// lockTimeout bounds the wait for another test's faults to end.
	lockTimeout = 10 * time.Minute
)

// Brokers returns the bootstrap list of the local 3-broker cluster:
// $KAFKA_CLUSTER_BROKERS, else [DefaultBrokers]. It skips the test under
// -short. When no broker answers it fails the test if $CI is set (CI starts
// the cluster: make test) and skips it otherwise.
func Brokers(t testing.TB) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("kafkacluster: needs the local 3-broker Kafka cluster; skipped with -short")
	}
	brokers := slices.Clone(DefaultBrokers)
	if v := os.Getenv(EnvBrokers); v != "" {
		brokers = brokers[:0]
		for b := range strings.SplitSeq(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
	}
	if err := ping(brokers); err != nil {
		const hint = "start it with `make cluster-up` or deploy/local/kafka-cluster.sh start"
		if os.Getenv("CI") != "" {
			t.Fatalf("kafkacluster: cluster %s unreachable: %v (%s)", strings.Join(brokers, ","), err, hint)
		}
		t.Skipf("kafkacluster: cluster %s unreachable: %v (%s)", strings.Join(brokers, ","), err, hint)
	}
	return brokers
}

func ping(brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("no broker addresses")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// Brokers returns the bootstrap list.
func (c *Injector) Brokers() []string { return slices.Clone(c.brokers) }

// Addr returns broker id's address (host:port).
func (c *Injector) Addr(id int32) string { return c.addrs[id] }

// Admin returns the admin client of the Injector (closed by Close).
func (c *Injector) Admin() *kadm.Client { return c.adm }

// Answering returns the brokers that are registered (not fenced) and answer
// an ApiVersions request now, in id order.
func (c *Injector) Answering(ctx context.Context) ([]int32, error) {
	vs, err := c.adm.ApiVersions(fresh(ctx))
	if err != nil {
		return nil, err
	}
	var ids []int32
	for id, v := range vs {
		if v.Err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// PID returns broker id's process id, or 0 when it does not run.
func (c *Injector) PID(ctx context.Context, id int32) (int, error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := c.script1(ctx, "pid", id)
	if err != nil {
		// the script fails when the broker does not run
		return 0, nil
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid, nil
}

// waitAnswers waits until broker id is in the cluster metadata (registered,
// not fenced) and answers an ApiVersions request.
func (c *Injector) waitAnswers(ctx context.Context, id int32) error {
	var last error
	err := poll(ctx, func() (bool, error) {
		vs, err := c.adm.ApiVersions(fresh(ctx))
		if err != nil {
			last = err
			return false, nil
		}
		v, ok := vs[id]
		switch {
		case !ok:
			last = fmt.Errorf("broker %d not in the cluster metadata", id)
		case v.Err != nil:
			last = fmt.Errorf("broker %d: %w", id, v.Err)
		default:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("broker %d does not answer (%w): %w", id, last, err)
	}
	return nil
}

// waitHostedInSync waits until broker id is in the ISR of every partition
// (of every topic, internal ones included) that has a replica on it.
func (c *Injector) waitHostedInSync(ctx context.Context, id int32) error {
	return c.waitPartitions(ctx, nil, func(p kadm.PartitionDetail) string {
		if !slices.Contains(p.Replicas, id) || slices.Contains(p.ISR, id) {
			return ""
		}
		return fmt.Sprintf("broker %d not in the ISR %v of %s/%d", id, p.ISR, p.Topic, p.Partition)
	})
}

// WaitInSync waits until every partition of the topics (of all topics,
// internal ones included, when none is given) has a leader and all its
// replicas in the ISR. A topic that does not exist yet is waited for.
func (c *Injector) WaitInSync(ctx context.Context, topics ...string) error {
	return c.waitPartitions(ctx, topics, func(p kadm.PartitionDetail) string {
		if p.Leader < 0 {
			return fmt.Sprintf("%s/%d has no leader", p.Topic, p.Partition)
		}
		for _, r := range p.Replicas {
			if !slices.Contains(p.ISR, r) {
				return fmt.Sprintf("%s/%d: ISR %v of replicas %v", p.Topic, p.Partition, p.ISR, p.Replicas)
			}
		}
		return ""
	})
}

// waitPartitions polls the metadata of the topics (all when nil) until bad
// returns "" for every partition.
func (c *Injector) waitPartitions(ctx context.Context, topics []string, bad func(kadm.PartitionDetail) string) error {
	var last string
	err := poll(ctx, func() (bool, error) {
		m, err := c.adm.Metadata(fresh(ctx), topics...)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, td := range m.Topics.Sorted() {
			if td.Err != nil {
				last = fmt.Sprintf("topic %s: %v", td.Topic, td.Err)
				return false, nil
			}
			for _, p := range td.Partitions.Sorted() {
				if p.Err != nil && !errors.Is(p.Err, kerr.LeaderNotAvailable) {
					last = fmt.Sprintf("%s/%d: %v", p.Topic, p.Partition, p.Err)
					return false, nil
				}
				if why := bad(p); why != "" {
					last = why
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("not in sync (%s): %w", last, err)
	}
	return nil
}

// poll calls try every pollEvery until it reports done, returns an error, or
// ctx ends.
func poll(ctx context.Context, try func() (bool, error)) error {
	for {
		done, err := try()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// moduleRoot walks up from the working directory (a package's folder under
// go test) to the folder holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
