package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/testenv"
)

// recordingLogger is a franz-go logger at a fixed level that keeps what it
// is given.
type recordingLogger struct {
	level kgo.LogLevel
	msgs  []string
}

func (l *recordingLogger) Level() kgo.LogLevel { return l.level }
func (l *recordingLogger) Log(_ kgo.LogLevel, msg string, _ ...any) {
	l.msgs = append(l.msgs, msg)
}

func TestCommitWatch(t *testing.T) {
	inner := &recordingLogger{level: kgo.LogLevelWarn}
	w := newCommitWatch(inner)
	if w.Level() != kgo.LogLevelInfo {
		t.Fatalf("level %v: the watch must see franz-go's info lines", w.Level())
	}
	if err := w.confirm(); !errors.Is(err, errCommitNotConfirmed) || errors.Is(err, errAbortedInsteadOfCommit) {
		t.Fatalf("no answer seen: %v, want unconfirmed, not known aborted", err)
	}
	// franz-go's own lines for a transaction that it turned into an abort.
	w.reset()
	w.Log(kgo.LogLevelInfo, "no produce succeeded in this transaction but produces were attempted; issuing an abort to clear any server-side partition registrations")
	w.Log(kgo.LogLevelInfo, "ending transaction", "transactional_id", "g.p0", "commit", kgo.TryAbort)
	w.Log(kgo.LogLevelInfo, endTxnAnswered, "transactional_id", "g.p0", "commit", kgo.TryAbort, "prior_id", int64(7))
	if err := w.confirm(); !errors.Is(err, errAbortedInsteadOfCommit) {
		t.Fatalf("an abort answer: %v, want aborted instead of committed", err)
	}
	// A commit answered, after a retried attempt answered as an abort.
	w.reset()
	w.Log(kgo.LogLevelInfo, endTxnAnswered, "commit", kgo.TryAbort)
	w.Log(kgo.LogLevelInfo, endTxnAnswered, "transactional_id", "g.p0", "commit", kgo.TryCommit)
	if err := w.confirm(); err != nil {
		t.Fatalf("a commit answer: %v", err)
	}
	// reset forgets it.
	w.reset()
	if err := w.confirm(); err == nil {
		t.Fatal("a commit answered before reset confirmed the next end")
	}
	// The service's logger gets only what its level asks for.
	w.Log(kgo.LogLevelWarn, "a warning")
	if len(inner.msgs) != 1 || inner.msgs[0] != "a warning" {
		t.Fatalf("passed on %q, want only the warning", inner.msgs)
	}
}

// TestCommitIsConfirmedByTheBroker runs a chain of handoffs of one
// transactional id, as partition owners do: each round the owner commits a
// few records, then commits once more while the next owner's
// InitProducerID lands at a random moment, and the next owner takes over.
// Every commit endCommit confirmed must be in the committed log, once, and
// none it called aborted. Without the commit watch, franz-go v1.22.3 turned
// a new owner's first commit into an abort and returned nil about once in
// 1,000–4,000 rounds here (txn_confirm.go).
func TestCommitIsConfirmedByTheBroker(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.RandomName("confirm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kadm.NewClient(admin).DeleteTopics(context.Background(), topic) })
	log := slog.New(slog.DiscardHandler)
	type producer struct {
		cl   *kgo.Client
		ends *commitWatch
	}
	newProducer := func() producer {
		logOpt, ends := txnLogger(log)
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(topic+".p0"),
			kgo.TransactionTimeout(10*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(0), logOpt)
		if err != nil {
			t.Fatal(err)
		}
		return producer{cl, ends}
	}
	// commit appends v in a transaction; fence, if set, starts the next
	// owner's InitProducerID in the middle.
	commit := func(p producer, v string, fence func()) error {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := p.cl.BeginTransaction(); err != nil {
			return err
		}
		if fence != nil {
			fence()
		}
		err := produceAll(wctx, p.cl, []*kgo.Record{{Topic: topic, Value: []byte(v)}})
		if err == nil {
			err = endCommit(wctx, p.cl, p.ends)
		}
		if err != nil {
			_ = p.cl.AbortBufferedRecords(wctx)
			_ = p.cl.EndTransaction(wctx, kgo.TryAbort)
		}
		return err
	}
	rounds := 1000
	if s := testenv.Getenv("HAPPYCHAT_CONFIRM_ROUNDS", ""); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	confirmed, aborted := map[string]bool{}, map[string]bool{}
	unconfirmed := 0
	note := func(v string, err error) {
		switch {
		case err == nil:
			confirmed[v] = true
		case errors.Is(err, errAbortedInsteadOfCommit):
			aborted[v] = true
			unconfirmed++
		case errors.Is(err, errCommitNotConfirmed):
			unconfirmed++
		}
	}
	cur := newProducer()
	if _, _, err := cur.cl.ProducerID(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		for j := range 3 {
			v := fmt.Sprintf("r%d-%d", i, j)
			err := commit(cur, v, nil)
			note(v, err)
			if err != nil {
				break
			}
		}
		next := newProducer()
		fenced := make(chan error, 1)
		delay := time.Duration(rand.IntN(8000)) * time.Microsecond
		v := fmt.Sprintf("r%d-raced", i)
		note(v, commit(cur, v, func() {
			go func() {
				time.Sleep(delay)
				_, _, err := next.cl.ProducerID(ctx)
				fenced <- err
			}()
		}))
		if err := <-fenced; err != nil {
			t.Fatalf("round %d: the next owner's InitProducerID: %v", i, err)
		}
		cur.cl.Close()
		cur = next
	}
	cur.cl.Close()
	seen := map[string]int{}
	if err := logread.Read(ctx, brokers, topic, logread.HighWatermark, func(r *kgo.Record) error {
		seen[string(r.Value)]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rounds: %d commits confirmed, %d not confirmed (%d answered as aborts), %d records in the log",
		rounds, len(confirmed), unconfirmed, len(aborted), len(seen))
	for v := range confirmed {
		if seen[v] != 1 {
			t.Errorf("confirmed commit of %s: %d times in the committed log, want 1", v, seen[v])
		}
	}
	for v := range aborted {
		if seen[v] != 0 {
			t.Errorf("commit of %s answered as an abort, yet %d times in the committed log", v, seen[v])
		}
	}
}
