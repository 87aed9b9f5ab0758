// Faults: broker kills, stops and pauses through deploy/local/kafka-cluster.sh,
// undone when the test ends, one test at a time.

package kafkacluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Kill sends SIGKILL to broker id and waits until its process is gone. The
// controller fences it (and moves its leaderships) within
// broker.session.timeout.ms, 4s.
func (c *Cluster) Kill(id int32) {
	c.t.Helper()
	c.run("kill-broker", id)
	c.setFault(id, down)
}

// Stop sends SIGTERM to broker id and waits until it has exited: a
// controlled shutdown that moves its leaderships first.
func (c *Cluster) Stop(id int32) {
	c.t.Helper()
	c.run("stop-broker", id)
	c.setFault(id, down)
}

// Pause sends SIGSTOP to broker id and waits until the process is stopped:
// it keeps its connections open and answers nothing, like a hung machine.
func (c *Cluster) Pause(id int32) {
	c.t.Helper()
	c.run("pause-broker", id)
	c.setFault(id, paused)
}

// Resume sends SIGCONT to broker id and waits until it answers requests
// again (registered and unfenced). It does not wait for its replicas to be
// back in sync: use WaitInSync for that.
func (c *Cluster) Resume(id int32) {
	c.t.Helper()
	start := time.Now()
	c.run("resume-broker", id)
	c.setFault(id, 0)
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	if err := c.waitAnswers(ctx, id); err != nil {
		c.t.Fatalf("kafkacluster: resume broker %d: %v", id, err)
	}
	c.t.Logf("kafkacluster: broker %d answers again (%v)", id, time.Since(start).Round(time.Millisecond))
}

// Start starts broker id (resumes it if paused; nothing to start if it
// runs), waits until it answers requests and is back in the ISR of every
// partition it hosts.
func (c *Cluster) Start(id int32) {
	c.t.Helper()
	if err := c.start(id); err != nil {
		c.t.Fatalf("kafkacluster: %v", err)
	}
}

func (c *Cluster) start(id int32) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	start := time.Now()
	if out, err := c.script1(ctx, "start-broker", id); err != nil {
		return fmt.Errorf("start broker %d: %w\n%s", id, err, out)
	}
	c.setFault(id, 0)
	if err := c.waitAnswers(ctx, id); err != nil {
		return fmt.Errorf("start broker %d: %w", id, err)
	}
	if err := c.waitHostedInSync(ctx, id); err != nil {
		return fmt.Errorf("start broker %d: %w", id, err)
	}
	c.t.Logf("kafkacluster: broker %d started and in sync (%v)", id, time.Since(start).Round(time.Millisecond))
	return nil
}

// restore runs at the end of the test: brokers left down or paused are
// started or resumed, and the test waits until they are back in sync.
func (c *Cluster) restore() {
	c.mu.Lock()
	ids := make([]int32, 0, len(c.faults))
	for id := range c.faults {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		c.t.Logf("kafkacluster: bringing broker %d back after the test", id)
		if err := c.start(id); err != nil {
			c.t.Errorf("kafkacluster: cleanup: %v", err)
		}
	}
}

func (c *Cluster) setFault(id int32, f fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f == 0 {
		delete(c.faults, id)
	} else {
		c.faults[id] = f
	}
}

func checkID(t testing.TB, id int32) {
	t.Helper()
	if !slices.Contains(NodeIDs, id) {
		t.Fatalf("kafkacluster: no broker %d (the cluster has %v)", id, NodeIDs)
	}
}

// run runs a subcommand of kafka-cluster.sh for broker id, failing the test
// when it fails.
func (c *Cluster) run(sub string, id int32) {
	c.t.Helper()
	checkID(c.t, id)
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	start := time.Now()
	out, err := c.script1(ctx, sub, id)
	if err != nil {
		c.t.Fatalf("kafkacluster: %s %d: %v\n%s", sub, id, err, out)
	}
	c.t.Logf("kafkacluster: %s %d (%v)", sub, id, time.Since(start).Round(time.Millisecond))
}

func (c *Cluster) script1(ctx context.Context, sub string, id int32) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.script, sub, strconv.Itoa(int(id)))
	cmd.Dir = c.root
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// faultTurn is this process's share of the machine-wide lock.
var faultTurn = make(chan struct{}, 1)

// lockFaults waits (up to timeout) for this process's turn and then for an
// exclusive flock on a file in the temporary directory, shared by every test
// binary on the machine. The returned func releases both.
func lockFaults(timeout time.Duration) (func(), error) {
	deadline := time.After(timeout)
	select {
	case faultTurn <- struct{}{}:
	case <-deadline:
		return nil, fmt.Errorf("another test of this binary held the cluster for %v", timeout)
	}
	path := filepath.Join(os.TempDir(), "happychat-kafkacluster.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		<-faultTurn
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			<-faultTurn
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-deadline:
			f.Close()
			<-faultTurn
			return nil, fmt.Errorf("another test process held %s for %v", path, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return func() {
		f.Close() // releases the flock
		<-faultTurn
	}, nil
}
