package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/kafkalog"
)

// A commit is believed only when the broker's answer to a commit was seen.
//
// franz-go v1.22.3's EndTransaction(TryCommit) can end the transaction with
// an abort and still return nil: when none of the client's partitions is
// marked as added to the transaction although records were produced, it
// logs "no produce succeeded in this transaction but produces were
// attempted", sends EndTxn with commit=false, and returns the abort's
// success. It happens on a client's first produce to a topic: the metadata update that
// learns the topic's partitions hands them the buffered records before it
// stores them in the producer's topic map (a deferred store), so a produce,
// flush and end that all finish in between find no partition in the
// transaction (and reset no sequence number: the next produce fails with
// OUT_OF_ORDER_SEQUENCE_NUMBER). A new owner's first write after a takeover
// is such a produce. TestCommitIsConfirmedByTheBroker shows it; an owner
// that trusted that nil acknowledged sends no reader ever sees. An instance
// transaction (level 6) always carries its offset commit, which franz-go
// counts as added, so its end does commit; the session's ends are watched
// all the same (GroupTransactSession.End would report such an abort as
// committed).
//
// franz-go tells which way an EndTxn went only in its log, so the
// transactional clients log through a commitWatch, which notes every EndTxn
// answer ("end transaction response successfully received", with the
// commit flag as sent) and passes the lines on to the service's logger.

// endTxnAnswered is franz-go's log line for an EndTxn the broker accepted.
const endTxnAnswered = "end transaction response successfully received"

// Outcomes of the EndTxn requests a client sent since the watch was reset.
const (
	endNone      int32 = iota // no EndTxn was answered
	endCommitted              // the last answered EndTxn committed
	endAborted                // the last answered EndTxn aborted
)

// errCommitNotConfirmed is a commit franz-go reported without the broker's
// commit answer: aborted (errAbortedInsteadOfCommit) or never sent. The
// producer's state is not to be trusted after it.
var errCommitNotConfirmed = errors.New("the commit was not confirmed by the broker")

// errAbortedInsteadOfCommit is a commit that franz-go ended with an abort:
// nothing of the transaction was saved.
var errAbortedInsteadOfCommit = errors.New("the client ended the transaction with an abort")

// commitWatch is a franz-go logger that notes how the client's EndTxn
// requests were answered. One client's transactions never overlap, so the
// caller resets it before an end and reads it after.
type commitWatch struct {
	inner kgo.Logger
	last  atomic.Int32
}

func newCommitWatch(inner kgo.Logger) *commitWatch { return &commitWatch{inner: inner} }

// Level asks franz-go for its info lines, where EndTxn answers are logged,
// whatever the inner logger wants.
func (w *commitWatch) Level() kgo.LogLevel { return max(w.inner.Level(), kgo.LogLevelInfo) }

func (w *commitWatch) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if msg == endTxnAnswered {
		outcome := endAborted
		if committedFlag(keyvals) {
			outcome = endCommitted
		}
		w.last.Store(outcome)
	}
	if level <= w.inner.Level() {
		w.inner.Log(level, msg, keyvals...)
	}
}

// committedFlag reads the "commit" value of an EndTxn log line.
func committedFlag(keyvals []any) bool {
	for i := 0; i+1 < len(keyvals); i += 2 {
		if k, ok := keyvals[i].(string); ok && k == "commit" {
			switch v := keyvals[i+1].(type) {
			case kgo.TransactionEndTry:
				return bool(v)
			case bool:
				return v
			}
		}
	}
	return false
}

// reset forgets earlier answers: call it before ending a transaction.
func (w *commitWatch) reset() { w.last.Store(endNone) }

// confirm returns nil if the last EndTxn since reset committed, and why not
// otherwise. Call it after franz-go reported a commit.
func (w *commitWatch) confirm() error {
	switch w.last.Load() {
	case endCommitted:
		return nil
	case endAborted:
		return errors.Join(errCommitNotConfirmed, errAbortedInsteadOfCommit)
	}
	return fmt.Errorf("%w: no EndTxn answer was seen", errCommitNotConfirmed)
}

// txnLogger returns the logger option of a transactional client, logging
// to log, and its watch; the option must come after the service's own Kafka
// options.
func txnLogger(log *slog.Logger) (kgo.Opt, *commitWatch) {
	w := newCommitWatch(kafkalog.New(log))
	return kgo.WithLogger(w), w
}

// endCommit commits cl's open transaction and believes it only on the
// broker's commit answer. An unconfirmed commit wants a new producer.
func endCommit(ctx context.Context, cl *kgo.Client, ends *commitWatch) error {
	ends.reset()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := ends.confirm(); err != nil {
		return errors.Join(fmt.Errorf("commit: %w", err), errNeedsNewProducer)
	}
	return nil
}
