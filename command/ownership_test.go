package command

import (
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
