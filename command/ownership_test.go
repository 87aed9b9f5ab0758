package command

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"happychat/internal/kafkaretry"
)

// The owners' heartbeats must keep retrying past the session timeout (a
// coordinator failover takes longer), at most a heartbeat interval apart,
// or the new coordinator expires the member before a retry reaches it.
func TestGroupRetriesOutlastACoordinatorFailover(t *testing.T) {
	session := 6 * time.Second
	timeout := heartbeatRetryTimeout(session)
	if got := timeout(int16(kmsg.Heartbeat)); got <= session {
		t.Fatalf("heartbeat retry timeout %v, want more than the session timeout %v", got, session)
	}
	if got := timeout(int16(kmsg.JoinGroup)); got != session {
		t.Fatalf("join retry timeout %v, want the session timeout %v", got, session)
	}
	interval := session / 6
	backoff := kafkaretry.Backoff(interval)
	prev := time.Duration(0)
	var total time.Duration
	for fails := 1; fails <= groupRequestRetries; fails++ {
		d := backoff(fails)
		if d > interval || d < prev {
			t.Fatalf("backoff after %d failures: %v (previous %v, cap %v)", fails, d, prev, interval)
		}
		prev, total = d, total+d
	}
	if prev != interval {
		t.Fatalf("backoff settles at %v, want the heartbeat interval %v", prev, interval)
	}
	// The retries must cover the retry timeout at this spacing, or they
	// end before the timeout does.
	if total < session+coordinatorFailover {
		t.Fatalf("%d retries span %v, less than the retry timeout %v", groupRequestRetries, total, session+coordinatorFailover)
	}
}

// Every revoke must reach the owners, not only an instance's first: franz-go's
// GroupTransactSession calls OnPartitionsRevoked again only after its next
// End (sessionLock). Instance a is revoked twice, once when b joins and once
// when c does after b left; with the second revoke lost, a kept serving the
// partitions c took over.
func TestEveryRevokeReachesTheOwners(t *testing.T) {
	t.Run("partition transactions", func(t *testing.T) { everyRevoke(t, false) })
	t.Run("instance transactions", func(t *testing.T) { everyRevoke(t, true) })
}

func everyRevoke(t *testing.T, instanceTxn bool) {
	c := newCluster(t, 6)
	if instanceTxn {
		c.instanceLevel()
	}
	a := c.startWith(0, logged)
	c.waitOwned(a)
	b := c.startWith(1, logged)
	c.waitOwned(a, b)
	c.waitSingleOwners(a, b) // the first revoke
	b.stop()
	c.waitOwned(a)
	d := c.startWith(2, logged)
	c.waitOwned(a, d)
	c.waitSingleOwners(a, d) // the second
	if got := a.svc.instanceMode(); got != instanceTxn {
		t.Fatalf("instance transactions: %v, want %v", got, instanceTxn)
	}
}

// waitSingleOwners waits until no partition has an owner in more than one
// of the instances, and fails with the partitions that still do.
func (c *cluster) waitSingleOwners(ins ...*instance) {
	c.t.Helper()
	var twice []string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		owners := map[int32][]int{}
		for i, in := range ins {
			in.svc.omu.Lock()
			for p := range in.svc.owners {
				owners[p] = append(owners[p], i)
			}
			in.svc.omu.Unlock()
		}
		twice = twice[:0]
		for p, is := range owners {
			if len(is) > 1 {
				twice = append(twice, fmt.Sprintf("partition %d in instances %v", p, is))
			}
		}
		if len(twice) == 0 {
			return
		}
	}
	slices.Sort(twice)
	c.t.Fatalf("owned by two instances after the rebalance: %v", twice)
}
