// Faults: broker kills, stops and pauses through deploy/local/kafka-cluster.sh,
// undone when the Injector closes (a test's cleanup), one user at a time.
// Each is bounded by the Injector's Timeout as well as by its ctx.

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
	"time"
)

// Kill sends SIGKILL to broker id and waits until its process is gone. The
// controller fences it (and moves its leaderships) within
// broker.session.timeout.ms, 4s.
func (c *Injector) Kill(ctx context.Context, id int32) error {
	return c.run(ctx, "kill-broker", id, down)
}

// Stop sends SIGTERM to broker id and waits until it has exited: a
// controlled shutdown that moves its leaderships first.
func (c *Injector) Stop(ctx context.Context, id int32) error {
	return c.run(ctx, "stop-broker", id, down)
}

// Pause sends SIGSTOP to broker id and waits until the process is stopped:
// it keeps its connections open and answers nothing, like a hung machine.
func (c *Injector) Pause(ctx context.Context, id int32) error {
	return c.run(ctx, "pause-broker", id, paused)
}

// Resume sends SIGCONT to broker id and waits until it answers requests
// again (registered and unfenced). It does not wait for its replicas to be
// back in sync: use WaitInSync for that.
func (c *Injector) Resume(ctx context.Context, id int32) error {
	start := time.Now()
	if err := c.run(ctx, "resume-broker", id, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if err := c.waitAnswers(ctx, id); err != nil {
		return fmt.Errorf("resume broker %d: %w", id, err)
	}
	c.logf("kafkacluster: broker %d answers again (%v)", id, time.Since(start).Round(time.Millisecond))
	return nil
}

// Start starts broker id (resumes it if paused; nothing to start if it
// runs), waits until it answers requests and is back in the ISR of every
// partition it hosts.
func (c *Injector) Start(ctx context.Context, id int32) error {
	if err := checkID(id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
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
	c.logf("kafkacluster: broker %d started and in sync (%v)", id, time.Since(start).Round(time.Millisecond))
	return nil
}

// Restore starts or resumes every broker the Injector left down or paused
// and waits until each is back in sync: what Close does first, for a user
// that must find the cluster whole before it goes on.
func (c *Injector) Restore(ctx context.Context) error {
	c.mu.Lock()
	ids := make([]int32, 0, len(c.faults))
	for id := range c.faults {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	slices.Sort(ids)
	var errs []error
	for _, id := range ids {
		c.logf("kafkacluster: bringing broker %d back", id)
		errs = append(errs, c.Start(ctx, id))
	}
	return errors.Join(errs...)
}

func (c *Injector) setFault(id int32, f fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f == 0 {
		delete(c.faults, id)
	} else {
		c.faults[id] = f
	}
}

func checkID(id int32) error {
	if !slices.Contains(NodeIDs, id) {
		return fmt.Errorf("kafkacluster: no broker %d (the cluster has %v)", id, NodeIDs)
	}
	return nil
}

// run runs a subcommand of kafka-cluster.sh for broker id and records the
// fault it leaves (0: none). The fault is recorded even when the script
// fails, so that Close brings the broker back whatever state it is in.
func (c *Injector) run(ctx context.Context, sub string, id int32, f fault) error {
	if err := checkID(id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()
	if f != 0 {
		c.setFault(id, f)
	}
	out, err := c.script1(ctx, sub, id)
	if err != nil {
		return fmt.Errorf("kafkacluster: %s %d: %w\n%s", sub, id, err, out)
	}
	if f == 0 {
		c.setFault(id, 0)
	}
	c.logf("kafkacluster: %s %d (%v)", sub, id, time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *Injector) script1(ctx context.Context, sub string, id int32) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.script, sub, strconv.Itoa(int(id)))
	cmd.Dir = filepath.Dir(c.script)
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
