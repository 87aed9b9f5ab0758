package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// rig is a run's writing clients, as its mode needs them: producers, the
// plain group member whose generation raw offsets carry, or the owners'
// group sessions.
type rig struct {
	producers []*kgo.Client
	member    *kgo.Client                 // raw, raw2
	sessions  []*kgo.GroupTransactSession // group
	owner     map[int32]int               // group: partition → session
	txn       bool
}

func newRig(ctx context.Context, o options, seeds []string) (*rig, error) {
	r := &rig{txn: o.mode != "acks"}
	producer := func(suffix string) error {
		opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(o.linger), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ClientID("kafkafloor-" + o.mode)}
		if r.txn {
			opts = append(opts, kgo.TransactionalID(o.topic+suffix), kgo.TransactionTimeout(15*time.Second))
		}
		cl, err := kgo.NewClient(opts...)
		if err == nil {
			r.producers = append(r.producers, cl)
		}
		return err
	}
	var err error
	switch o.mode {
	case "serial", "acks":
		err = producer("-a")
	case "pipelined":
		err = errors.Join(producer("-a"), producer("-b"))
	case "raw":
		err = producer("-a")
		if err == nil {
			r.member, err = joinMember(ctx, seeds, o.topic)
		}
	case "raw2":
		err = errors.Join(producer("-a"), producer("-b"))
		if err == nil {
			r.member, err = joinMember(ctx, seeds, o.topic)
		}
	case "group":
		// Every partition owned, and the group settled for a second: a
		// rebalance during a transaction aborts it (the session's fence).
		r.sessions, r.owner, err = joinMembers(ctx, seeds, o.topic, max(o.members, 1), o.partitions)
	default:
		err = fmt.Errorf("-mode %q: serial, group, raw, pipelined, raw2 or acks", o.mode)
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *rig) close() {
	for _, cl := range r.producers {
		cl.Close()
	}
	if r.member != nil {
		r.member.Close()
	}
	for _, s := range r.sessions {
		s.Close()
	}
}

// warmUp commits a record on every partition from every writer before
// the clock starts (see warm).
func (r *rig) warmUp(ctx context.Context, t target) error {
	for _, cl := range r.producers {
		if err := warm(ctx, cl, t, r.txn); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	for i, s := range r.sessions {
		var recs []*kgo.Record // on the partitions this session owns
		for p := range t.partitions {
			if r.owner[int32(p)] == i {
				recs = append(recs, warmRecord(t, p))
			}
		}
		// A session aborts what a late rebalance overlapped (committed
		// false, no error): the warm-up tries again.
		for try := 0; ; try++ {
			if err := s.Begin(); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			ok, _, err := groupCommit(s, t)(ctx, recs)
			if err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			if ok {
				break
			}
			if try == 10 {
				return errors.New("warm-up: every transaction aborted")
			}
		}
	}
	return nil
}

// writer is the run's writer over the rig's clients.
func (r *rig) writer(o options, t target, l *ledger, st *stages) writer {
	var f *fence
	if r.member != nil {
		f = &fence{member: r.member, group: o.topic + "-owners", topic: o.topic}
	}
	switch o.mode {
	case "serial":
		return serial(r.producers[0], t, l, st)
	case "group":
		return &members{sessions: r.sessions, owner: r.owner, t: t, l: l, st: st}
	case "raw":
		return raw(r.producers[0], o.topic+"-a", f, t, l, st)
	case "pipelined", "raw2":
		return &pipelined{cls: [2]*kgo.Client{r.producers[0], r.producers[1]}, ids: [2]string{o.topic + "-a", o.topic + "-b"}, f: f, t: t, l: l, st: st}
	default: // acks
		return &acks{cl: r.producers[0], t: t, l: l}
	}
}
