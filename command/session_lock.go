package command

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sessionLock guards the owners' group session (a franz-go
// GroupTransactSession) for the two things the ownership protocol needs
// from it beyond the instance writer's transactions:
//
//   - franz-go forbids a poll, Begin or End of the session to overlap
//     another: the writer holds the lock across each transaction and each
//     poll, and so does clearRevoke for its End.
//   - The session remembers a revoke (or a loss of the group) until its
//     next End, and until then it does not call OnPartitionsRevoked
//     (OnPartitionsLost) again: it assumes every partition went at the
//     first one, which is true of eager balancing but not of the
//     cooperative balancing the owners' group uses, where each rebalance
//     revokes a few partitions. Below level 6 nothing ever ended a
//     transaction on the session, so an instance's second revoke never
//     reached its owners: two instances served the partition, each fencing
//     the other's producer at every takeover (every send there answered an
//     unknown outcome until the next rebalance; found by the rolling
//     restart test). At level 6 an idle writer left the same gap, with no
//     producer id shared between the two writers to fence either.
//
// clearRevoke therefore ends the session's record of a revoke or loss in
// OnPartitionsAssigned, which franz-go calls after every group session's
// revokes and before any later revoke can run (its revoke waits for the
// assignment callback to return). It must not wait for the writer there:
// a transaction's End may wait for the rebalance to finish. So when the
// writer holds the session, the writer clears the record as it lets go
// (unlock), which is a moment after the callback tried.
type sessionLock struct {
	mu   sync.Mutex
	sess *kgo.GroupTransactSession
	// marked: OnPartitionsRevoked or OnPartitionsLost ran with partitions
	// since clearRevoke last ended the session's record of it.
	marked atomic.Bool
}

// markRevoked notes that the session now holds a revoke or loss.
func (l *sessionLock) markRevoked() { l.marked.Store(true) }

// lock takes the session for a transaction or a poll.
func (l *sessionLock) lock() { l.mu.Lock() }

// unlock clears a revoke marked while the session was held, then lets go.
func (l *sessionLock) unlock(ctx context.Context) error {
	defer l.mu.Unlock()
	return l.clearLocked(ctx)
}

// clearRevoke clears a marked revoke unless the session is held, in which
// case its holder does when it lets go (see unlock).
func (l *sessionLock) clearRevoke(ctx context.Context) error {
	if !l.marked.Load() || !l.mu.TryLock() {
		return nil
	}
	return l.unlock(ctx)
}

// clearLocked ends the session's record of a revoke or loss by an End
// without a transaction (it sends nothing to the brokers; it only resets
// the session's flags). A revoke that lands during this End stays marked
// for the next clear, at worst one End too many.
func (l *sessionLock) clearLocked(ctx context.Context) error {
	if l.sess == nil || !l.marked.Swap(false) {
		return nil
	}
	_, err := l.sess.End(ctx, kgo.TryAbort)
	return err
}
