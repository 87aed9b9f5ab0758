// The owner's side of franz-go's transaction protocol: one batch, one
// transaction; how a failure is classified; the partition's producer.

package command

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// append writes the events in one transaction and commits it, following
// franz-go's protocol: a failed produce aborts; a commit whose outcome is
// unconfirmed is retried as TryAbort, which settles it (the producer id is
// reloaded, fencing anything still open). It returns the produced records,
// whose offsets are set. The transaction runs on a context of its own, not
// cancelled with ctx: a revoked owner finishes its batch (graceful handoff).
func (o *owner) append(ctx context.Context, cl *kgo.Client, events []schemas.Envelope) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		// The producer refuses new transactions (a fatal error, such as the
		// epoch bump of a transaction the coordinator timed out).
		return nil, errors.Join(fmt.Errorf("begin transaction: %w", err), errNeedsNewProducer)
	}
	var (
		mu       sync.Mutex
		firstErr error
	)
	recs := make([]*kgo.Record, 0, len(events))
	for _, e := range events {
		rec, err := o.svc.record(o.part, e)
		if err != nil {
			firstErr = err
			break
		}
		recs = append(recs, rec)
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	flushErr := cl.Flush(ctx)
	mu.Lock()
	perr := errors.Join(firstErr, flushErr)
	mu.Unlock()
	if perr != nil {
		cl.AbortBufferedRecords(ctx) //nolint:errcheck // the abort below reports
		if endErr := cl.EndTransaction(ctx, kgo.TryAbort); endErr != nil {
			return nil, errors.Join(fmt.Errorf("produce: %w", perr), fmt.Errorf("abort: %w", endErr), errNeedsNewProducer)
		}
		return nil, fmt.Errorf("produce (aborted): %w", perr)
	}
	if h := o.svc.cfg.hooks.beforeCommit; h != nil {
		h(o.part)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// Unconfirmed or refused commit: the documented retry is TryAbort.
		if abortErr := cl.EndTransaction(ctx, kgo.TryAbort); abortErr != nil {
			return nil, errors.Join(fmt.Errorf("commit: %w", err), fmt.Errorf("abort: %w", abortErr), errNeedsNewProducer)
		}
		return nil, fmt.Errorf("commit (settled by an abort): %w", err)
	}
	return recs, nil
}

// errNeedsNewProducer marks an append failure the producer cannot recover
// from by itself: the owner starts over with a fresh one.
var errNeedsNewProducer = errors.New("the producer must be recreated")

// isFenced reports errors that mean a newer owner took the partition's
// transactional id. Under transaction protocol v2, InvalidProducerEpoch
// and InvalidProducerIDMapping also follow a transaction timeout or an
// expired transactional id: those are no loss of ownership, but the
// producer is unusable, so every one of them starts the owner over.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// isRecoverable reports an append failure after which the same producer
// may begin a new transaction.
func isRecoverable(err error) bool {
	if errors.Is(err, errNeedsNewProducer) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.UnknownProducerID) ||
		errors.Is(err, kerr.InvalidTxnState) {
		return false
	}
	return true
}

// record turns an event into the partition's Kafka record.
func (s *Service) record(part int32, e schemas.Envelope) (*kgo.Record, error) {
	b, err := schemas.Events.Encode(e)
	if err != nil {
		return nil, err
	}
	return &kgo.Record{
		Topic: s.cfg.Names.Rooms, Partition: part, Key: schemas.Key(e.RoomID), Value: b,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderType, Value: []byte(e.Type)},
			{Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(schemas.Events.Version(e.Payload.EventType())))},
		},
	}, nil
}

// txnClient returns the partition's transactional producer. The id is the
// same for every owner of the partition, which is what fences stale ones.
func (s *Service) txnClient(part int32) (*kgo.Client, error) {
	opts := append(s.baseOpts(),
		kgo.TransactionalID(s.cfg.Names.CommandGroup+".p"+strconv.Itoa(int(part))),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Long enough to outlast a partition leader's failover (the
		// controller fences a dead broker after broker.session.timeout.ms,
		// 9 s by default): the batch then lands on the new leader instead
		// of being aborted and retried. Within commitTimeout.
		kgo.RecordDeliveryTimeout(8*time.Second),
		kgo.ProducerLinger(0),
	)
	return kgo.NewClient(opts...)
}
