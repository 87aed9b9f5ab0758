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

// write appends the events in one transaction and commits it, within the
// finish timeout (Config.finishTimeout, the session timeout): an owner cut off from the brokers would otherwise wait until
// franz-go's own request timeouts gave up, 20 s for a produce (see
// docs/reliability.md). Its commands are answered at the write timeout
// whatever happens (answerLate). It returns the produced records, whose
// offsets are set. An error leaves the transaction open or its outcome
// unknown: settle must follow before anything else is written. The write
// runs on a context of its own, not cancelled with ctx: a revoked owner
// finishes its batch (graceful handoff).
//
// gate runs between the flush and the commit, and its error aborts the
// commit: the batch's key store (startKeyStore), which must be durable
// before anything it sealed can commit.
func (o *owner) write(ctx context.Context, cl *kgo.Client, events []schemas.Envelope, gate func() error) ([]*kgo.Record, error) {
	if o.svc.instanceMode() {
		if w := o.svc.writer.Load(); w != nil {
			return w.write(o, events, gate)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.svc.cfg.finishTimeout())
	defer cancel()
	began := time.Now()
	if err := cl.BeginTransaction(); err != nil {
		// The producer refuses new transactions (a fatal error, such as the
		// epoch bump of a transaction the coordinator timed out).
		return nil, errors.Join(fmt.Errorf("begin transaction: %w", err), errNeedsNewProducer)
	}
	recs, err := o.svc.records(o.part, events)
	if err == nil {
		err = produceAll(ctx, cl, recs)
	}
	o.svc.metrics.stageSeconds.WithLabelValues("append").Observe(time.Since(began).Seconds())
	if err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	if err := gate(); err != nil {
		return nil, err
	}
	if h := o.svc.cfg.hooks.beforeCommit; h != nil {
		h(o.part)
	}
	committing := time.Now()
	if err := endCommit(ctx, cl, o.ends); err != nil {
		return nil, err
	}
	o.svc.metrics.stageSeconds.WithLabelValues("commit").Observe(time.Since(committing).Seconds())
	o.svc.metrics.batchEvents.Observe(float64(len(events)))
	return recs, nil
}

// settle ends the transaction a failed write left open or unconfirmed,
// as franz-go documents it: AbortBufferedRecords, which fails what is
// still buffered and waits until no produce request is in flight (so no
// sequence number is reused), then EndTransaction(TryAbort) — the abort of
// a failed produce, and the documented retry of a commit that was refused
// or whose outcome is unknown (it reloads the producer id: the epoch bump
// fence-aborts the transaction if it is still open). It waits at most the
// transaction timeout, past which the coordinator aborts the transaction
// by itself, and ends early if the owner is stopped.
//
// It returns werr, annotated: recoverable if the transaction was settled
// (the same producer may begin the next one), wrapping errNeedsNewProducer
// if not. A fresh producer's InitProducerID then fences this one's epoch
// and ends its transaction (aborted, or committed if the commit had been
// prepared), and the takeover reads back whatever committed.
func (o *owner) settle(ctx context.Context, cl *kgo.Client, werr error) error {
	if errors.Is(werr, errNeedsNewProducer) {
		return werr // no transaction began
	}
	ctx, cancelStop := o.stopContext(context.WithoutCancel(ctx))
	defer cancelStop()
	ctx, cancel := context.WithTimeout(ctx, o.svc.cfg.TransactionTimeout)
	defer cancel()
	if err := cl.AbortBufferedRecords(ctx); err != nil {
		// Records may still be in flight: this producer's sequence
		// numbers are no longer known, so it must not write again.
		return errors.Join(werr, fmt.Errorf("abort buffered records: %w", err), errNeedsNewProducer)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		return errors.Join(werr, fmt.Errorf("abort: %w", err), errNeedsNewProducer)
	}
	return fmt.Errorf("%w (settled by an abort)", werr)
}

// failedWriteAnswer is a failed write's answer: an unknown outcome, unless
// the instance's transaction is known to have saved nothing (aborted, or
// the owner was stopped before its batch was appended).
func failedWriteAnswer(err error) *schemas.Error {
	switch {
	case errors.Is(err, errNotOwner):
		return errNotOwner
	case errors.Is(err, errInstanceTxnAborted), errors.Is(err, errNothingWritten), errors.Is(err, errAbortedInsteadOfCommit):
		return retryLater("the write was aborted and saved nothing, retry")
	}
	return retryLater("the event log did not confirm the write, retry")
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

// records turns a batch's events into the partition's Kafka records.
func (s *Service) records(part int32, events []schemas.Envelope) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, 0, len(events))
	for _, e := range events {
		rec, err := s.record(part, e)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// produceAll produces recs in the client's open transaction and flushes
// them, within ctx: records not yet sent when it ends fail (franz-go fails
// them only where no request is in flight). It returns the first failure.
func produceAll(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	var (
		mu       sync.Mutex
		firstErr error
	)
	for _, rec := range recs {
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
	defer mu.Unlock()
	return errors.Join(firstErr, flushErr)
}

// record turns an event into the partition's Kafka record.
func (s *Service) record(part int32, e schemas.Envelope) (*kgo.Record, error) {
	// The level only rises, and each event passed checkEmit at a level at
	// most this one, so the version chosen here can carry it.
	b, version, err := schemas.Events.EncodeAt(e, int(s.level.Load()))
	if err != nil {
		return nil, err
	}
	// The envelopes built by the use cases leave Type to the encoder; the
	// header must name the type all the same (consumers skip by it).
	return &kgo.Record{
		Topic: s.cfg.Names.Rooms, Partition: part, Key: schemas.Key(e.RoomID), Value: b,
		Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderType, Value: []byte(e.Payload.EventType())},
			{Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(version))},
		},
	}, nil
}

// txnClient returns the partition's transactional producer and the watch
// that confirms its commits (txn_confirm.go). The id is the same for every
// owner of the partition, which is what fences stale ones.
func (s *Service) txnClient(part int32) (*kgo.Client, *commitWatch, error) {
	logOpt, ends := txnLogger(s.log)
	opts := append(s.baseOpts(),
		kgo.TransactionalID(s.cfg.Names.CommandGroup+".p"+strconv.Itoa(int(part))),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		logOpt,
	)
	cl, err := kgo.NewClient(opts...)
	return cl, ends, err
}
