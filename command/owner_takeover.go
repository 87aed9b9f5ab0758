// Taking a partition over: fence earlier owners, catch up with the log,
// bring the dedupe window and the id floor up to it.

package command

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// takeOver fences earlier owners (initialising the producer id bumps the
// epoch of the partition's transactional id and aborts its open
// transaction; an instance transaction still open on the partition is
// waited for or ended: settleOpen), waits until the tail holds every
// committed event of the partition, and brings the dedupe window up to the
// same offset.
func (o *owner) takeOver(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := o.stopContext(ctx)
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("init producer id: %w", err)
	}
	if err := o.settleOpen(ctx); err != nil {
		return fmt.Errorf("settle open instance transactions: %w", err)
	}
	return o.catchUp(ctx)
}

// catchUp waits for the tail to reach the partition's last stable offset,
// then replays the sends the dedupe window lacks up to it, and floors the
// id generator at the partition's last id.
func (o *owner) catchUp(ctx context.Context) error {
	svc := o.svc
	lso, err := svc.stableOffset(ctx, o.part)
	if err != nil {
		return err
	}
	if err := svc.tail.waitFor(ctx, o.part, lso); err != nil {
		return err
	}
	if o.dd == nil {
		dd, err := svc.store.loadDedupe(ctx, o.part, lso)
		if err != nil {
			return err
		}
		o.dd = dd
	}
	if o.dd.pos < lso {
		n, err := o.replay(ctx, o.dd.pos, lso)
		if err != nil {
			return fmt.Errorf("replay sends %d..%d: %w", o.dd.pos, lso, err)
		}
		svc.metrics.ownerReplayed.Add(float64(n))
		o.dd.pos = lso
	}
	o.pos = lso
	ps := svc.fold.parts[o.part]
	ps.mu.RLock()
	o.gen.Observe(ps.lastID)
	ps.mu.RUnlock()
	return nil
}

// stopContext returns ctx, also cancelled when the owner is stopped: for
// the waits of a takeover, never for a batch's produce and commit.
func (o *owner) stopContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-o.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
