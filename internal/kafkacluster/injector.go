// The Injector (Open, Close) and the Cluster that wraps it for a test (New
// and the test's faults).

package kafkacluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type fault int

const (
	down   fault = iota + 1 // killed or stopped
	paused                  // SIGSTOP
)

// Injector injects faults into the brokers of the local cluster and looks
// up where partitions and coordinators live. Its methods return errors, so
// that a program that is not a test (the chaos suite) can use it; [Cluster]
// is the same for a test. An Injector holds the machine-wide lock from
// [Open] until Close, which also brings back every broker it took down.
// The lookups and waits may be called from any goroutine.
type Injector struct {
	// Timeout bounds each fault method and its waiting; DefaultTimeout
	// unless changed.
	Timeout time.Duration

	logf    func(format string, args ...any)
	brokers []string
	script  string
	cl      *kgo.Client
	adm     *kadm.Client
	addrs   map[int32]string
	unlock  func()
	closed  sync.Once

	mu     sync.Mutex
	faults map[int32]fault
}

// Options configure [Open].
type Options struct {
	// Script is deploy/local/kafka-cluster.sh; by default the one of the
	// module the working directory is in.
	Script string
	// Logf receives a line per fault and recovery; by default nothing.
	Logf func(format string, args ...any)
}

// Open returns an Injector for the given bootstrap list. It waits for its
// turn (see the package documentation) and until all three brokers are
// registered. Close it when done: it brings back every broker the Injector
// stopped, killed or paused, and lets the next user have the cluster.
func Open(ctx context.Context, brokers []string, opts Options) (_ *Injector, err error) {
	script := opts.Script
	if script == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		script = filepath.Join(root, "deploy", "local", "kafka-cluster.sh")
	}
	// absolute: the script runs in its own folder
	script, err = filepath.Abs(script)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(script); err != nil {
		return nil, err
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	unlock, err := lockFaults(lockTimeout)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DialTimeout(3*time.Second),
		// a paused broker accepts connections but never answers
		kgo.RequestTimeoutOverhead(5*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
	)
	if err != nil {
		return nil, err
	}
	c := &Injector{
		Timeout: DefaultTimeout,
		logf:    logf,
		brokers: slices.Clone(brokers),
		script:  script,
		cl:      cl,
		adm:     kadm.NewClient(cl),
		unlock:  unlock,
		faults:  map[int32]fault{},
	}
	if err := c.waitRegistered(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return c, nil
}

// waitRegistered waits until every broker of NodeIDs is registered and
// records their addresses.
func (c *Injector) waitRegistered(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var last string
	err := poll(ctx, func() (bool, error) {
		m, err := c.adm.BrokerMetadata(fresh(ctx))
		if err != nil {
			last = err.Error()
			return false, nil
		}
		addrs := map[int32]string{}
		for _, b := range m.Brokers {
			addrs[b.NodeID] = fmt.Sprintf("%s:%d", b.Host, b.Port)
		}
		c.addrs = addrs
		last = fmt.Sprintf("registered brokers %v", m.Brokers.NodeIDs())
		for _, id := range NodeIDs {
			if _, ok := addrs[id]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("not all of brokers %v are up (%s): %w; deploy/local/kafka-cluster.sh start repairs it", NodeIDs, last, err)
	}
	return nil
}

// Close brings back every broker the Injector took down (started or
// resumed, and in sync again: give it a ctx that outlives a cancelled
// run), closes its client and releases the lock. Only the first call does
// anything.
func (c *Injector) Close(ctx context.Context) error {
	var err error
	c.closed.Do(func() {
		err = c.Restore(ctx)
		c.cl.Close()
		c.unlock()
	})
	return err
}

// Cluster is an [Injector] for a test: its fault methods fail the test
// (call them from the test's goroutine), and the test's cleanup closes it.
type Cluster struct {
	*Injector
	t testing.TB
}

// New returns a Cluster for the given bootstrap list (from [Brokers]). It
// waits for its turn (see the package documentation) and until all three
// brokers are registered, and arranges for every broker that the test stops,
// kills or pauses to be running and in sync again when the test ends.
func New(t testing.TB, brokers []string) *Cluster {
	t.Helper()
	in, err := Open(t.Context(), brokers, Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("kafkacluster: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is done by now
		if err := in.Close(context.Background()); err != nil {
			t.Errorf("kafkacluster: cleanup: %v", err)
		}
	})
	return &Cluster{Injector: in, t: t}
}

// The test's faults: each fails the test when the Injector's fails.

// Kill is [Injector.Kill], failing the test on error.
func (c *Cluster) Kill(id int32) { c.t.Helper(); c.must(c.Injector.Kill(c.t.Context(), id)) }

// Stop is [Injector.Stop], failing the test on error.
func (c *Cluster) Stop(id int32) { c.t.Helper(); c.must(c.Injector.Stop(c.t.Context(), id)) }

// Pause is [Injector.Pause], failing the test on error.
func (c *Cluster) Pause(id int32) { c.t.Helper(); c.must(c.Injector.Pause(c.t.Context(), id)) }

// Resume is [Injector.Resume], failing the test on error.
func (c *Cluster) Resume(id int32) { c.t.Helper(); c.must(c.Injector.Resume(c.t.Context(), id)) }

// Start is [Injector.Start], failing the test on error.
func (c *Cluster) Start(id int32) { c.t.Helper(); c.must(c.Injector.Start(c.t.Context(), id)) }

// PID is [Injector.PID], failing the test on error.
func (c *Cluster) PID(id int32) int {
	c.t.Helper()
	pid, err := c.Injector.PID(c.t.Context(), id)
	c.must(err)
	return pid
}

func (c *Cluster) must(err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("kafkacluster: %v", err)
	}
}
