package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"happychat/internal/kafkaretry"
)

// clientIDPrefix marks the owners' group members; the rest of the client id
// is the member's advertised HTTP address, which is how instances find the
// owner of a partition (see directory).
const clientIDPrefix = "happychat-command@"

// joinGroup runs the owners' group session on the rooms topic until ctx
// ends, starting it over when an instance transaction broke it.
func (s *Service) joinGroup(ctx context.Context) error {
	for {
		err := s.groupSession(ctx)
		if ctx.Err() != nil || !errors.Is(err, errSessionBroken) {
			return err
		}
		s.metrics.sessionRestarts.Inc()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// groupSession joins the owners' consumer group on the rooms topic. The
// group assigns the partitions: fetching is paused (the tail reads), and
// offsets are committed only by instance transactions (docs/adr/0011),
// which is what fences a writer whose generation is gone. The group's
// client is franz-go's GroupTransactSession for that reason, with the
// instance's own transactional id, whatever the level: only the writer
// begins transactions on it, from feature level 6.
func (s *Service) groupSession(ctx context.Context) error {
	topic := s.cfg.Names.Rooms
	// Held until the session exists, so that no callback clears a revoke
	// on a session not yet there.
	lock := &sessionLock{}
	lock.lock()
	logOpt, ends := txnLogger(s.log)
	sess, err := kgo.NewGroupTransactSession(append(s.baseOpts(), logOpt,
		kgo.ClientID(clientIDPrefix+s.advertise),
		kgo.ConsumerGroup(s.cfg.Names.CommandGroup),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.HeartbeatInterval(s.cfg.SessionTimeout/6),
		kgo.RebalanceTimeout(30*time.Second),
		kgo.RetryTimeoutFn(heartbeatRetryTimeout(s.cfg.SessionTimeout)),
		kgo.RetryBackoffFn(kafkaretry.Backoff(s.cfg.SessionTimeout/6)),
		kgo.RequestRetries(groupRequestRetries),
		kgo.TransactionalID(s.instanceTxnID()),
		kgo.TransactionTimeout(s.cfg.TransactionTimeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			s.metrics.partitionMoves.WithLabelValues("assigned").Add(float64(len(m[topic])))
			for _, p := range m[topic] {
				s.startOwner(ctx, p)
			}
			s.directory.invalidate()
			if err := lock.clearRevoke(ctx); err != nil {
				s.log.Warn("owners' group session: clearing its record of a revoke", "err", err)
			}
		}),
		// The session has marked its open transaction to abort before
		// these run; stopOwners does not wait for that transaction's end
		// (see instanceWriter.write).
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[topic]) > 0 {
				lock.markRevoked()
			}
			s.metrics.partitionMoves.WithLabelValues("revoked").Add(float64(len(m[topic])))
			s.stopOwners(m[topic], true)
			s.directory.invalidate()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			lock.markRevoked()
			s.metrics.partitionMoves.WithLabelValues("lost").Add(float64(len(m[topic])))
			s.stopOwners(m[topic], true)
			s.directory.invalidate()
		}),
	)...)
	lock.sess = sess
	if err := lock.unlock(ctx); err != nil {
		s.log.Warn("owners' group session: clearing its record of a revoke", "err", err)
	}
	if err != nil {
		return fmt.Errorf("owners group client: %w", err)
	}
	sess.Client().PauseFetchTopics(topic)
	// Initialise the producer id at once, not at the first transaction:
	// it ends whatever transaction this id left open (a session that broke,
	// or this address's previous process), which the owners' takeovers
	// wait for (settleOpen) before the writer gets any batch. Below level
	// 6 the id is not used (nor perhaps granted yet: `happychat acls`).
	if err := s.initInstanceProducer(ctx, sess); err != nil {
		s.stopAllOwners()
		sess.Close()
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("owners' group session: init producer id", "err", err)
		return errSessionBroken
	}
	w := newInstanceWriter(s, lock, ends)
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		w.run(wctx)
	}()
	s.writer.Store(w)
	defer func() {
		// Leave the group promptly so the others take over at once; the
		// owners finish (or abandon, parked) their batches first.
		s.stopAllOwners()
		s.writer.CompareAndSwap(w, nil)
		stopWriter()
		<-writerDone
		leaveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = sess.Client().LeaveGroupContext(leaveCtx)
		sess.Close()
	}()
	select {
	case <-ctx.Done():
		return nil
	case <-w.broken:
		return errSessionBroken
	}
}

// initInstanceProducer initialises the session's producer id when the
// cluster's level lets owners use it.
func (s *Service) initInstanceProducer(ctx context.Context, sess *kgo.GroupTransactSession) error {
	if s.level.Load() < instanceTxnLevel {
		return nil
	}
	ictx, cancel := context.WithTimeout(ctx, s.cfg.TransactionTimeout)
	defer cancel()
	if _, _, err := sess.Client().ProducerID(ictx); err != nil {
		return err
	}
	// The session's own initialisation is the grant check
	// (instance_grant.go), should the one at the start have failed for
	// another reason.
	if !s.instanceGrant.Swap(true) && s.lease != nil {
		s.lease.advertise(s.advertisedLevel())
	}
	return nil
}

// coordinatorFailover bounds how long a group coordinator's broker can be
// gone before its successor answers: the controller notices a dead broker
// after broker.session.timeout.ms (Kafka's default 9 s; 4 s on the cluster
// of deploy/local), then the new leader of the group's __consumer_offsets
// partition loads the group.
const coordinatorFailover = 15 * time.Second

// heartbeatRetryTimeout keeps the owners' heartbeats retrying through a
// coordinator failover. franz-go retries a heartbeat for the session timeout
// by default, and a heartbeat that gives up ends the member's session: every
// partition the instance owns is dropped and taken over again after a
// rebalance, also the partitions the dead broker had nothing to do with
// (measured: 8–9 s without writes in group-coordinator-kill, against 4–5 s
// for the partitions a dead leader alone held). The coordinator that loads
// the group restarts every member's session timer, so a member whose
// heartbeat reaches it in time keeps its generation and its partitions;
// retries happen only on errors that mean "no coordinator answered"
// (dial errors, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS), while an
// expired member is told so at once (UNKNOWN_MEMBER_ID) and rejoins. Safety
// does not rest on it: an owner that kept a partition it lost is fenced by
// its successor's transactional producer.
func heartbeatRetryTimeout(session time.Duration) func(int16) time.Duration {
	return func(key int16) time.Duration {
		switch kmsg.Key(key) {
		case kmsg.Heartbeat:
			return session + coordinatorFailover
		case kmsg.JoinGroup, kmsg.SyncGroup:
			return session
		}
		return 30 * time.Second
	}
}

// groupRequestRetries: the owners' group client spaces its retries at most
// a heartbeat interval apart (kafkaretry.Backoff). franz-go's default
// doubles up to 5 s, so a heartbeat retrying through a coordinator failover
// tried again about 8 and 13 s after the broker died: after the new
// coordinator, which had loaded the group about 5 s after the death, had
// expired the member (its session timer runs from the load). Measured:
// UNKNOWN_MEMBER_ID 13 s after the kill and a rebalance of every partition.
// These retries let the retries at that spacing last the heartbeat's
// retry timeout (franz-go's default, 20, spans 17.5 s at 1 s apart).
const groupRequestRetries = 40

func (s *Service) startOwner(ctx context.Context, p int32) {
	s.omu.Lock()
	defer s.omu.Unlock()
	if _, ok := s.owners[p]; ok {
		return
	}
	o, err := newOwner(s, p)
	if err != nil {
		s.log.Error("new owner", "partition", p, "err", err)
		return
	}
	// The owner outlives the callback's context: it ends when stopped,
	// after finishing its batch.
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o.cancel = cancel
	s.owners[p] = o
	go o.run(octx)
}

// stopOwners stops the owners of the given partitions and waits for them to
// finish their current batch (its commit or abort, and its answers), so
// that a revoked partition is never served by two instances that both
// believe they own it, and a clean handoff gives no client an unknown
// outcome. In a revoke (inRevoke), an owner waiting for its instance's
// transaction is not waited for (it is parked): the session aborts that
// transaction, and its end waits for the revoke that called this.
func (s *Service) stopOwners(parts []int32, inRevoke bool) {
	parked := func(o *owner) <-chan struct{} {
		if inRevoke {
			return o.parked
		}
		return nil // outside a revoke the transaction ends: wait for it
	}
	var stopping []*owner
	s.omu.Lock()
	for _, p := range parts {
		if o, ok := s.owners[p]; ok {
			delete(s.owners, p)
			close(o.stop)
			stopping = append(stopping, o)
		}
	}
	s.omu.Unlock()
	for _, o := range stopping {
		select {
		case <-o.done:
		case <-parked(o):
			// Waiting for its instance transaction, which aborts: it
			// answers and ends by itself.
		}
		o.cancel()
	}
}

func (s *Service) stopAllOwners() {
	s.omu.Lock()
	parts := make([]int32, 0, len(s.owners))
	for p := range s.owners {
		parts = append(parts, p)
	}
	s.omu.Unlock()
	s.stopOwners(parts, false)
}

func (s *Service) ownerOf(p int32) *owner {
	s.omu.Lock()
	defer s.omu.Unlock()
	return s.owners[p]
}

// directory maps partitions to the advertised address of their owner, read
// from the owners' group description and cached briefly.
type directory struct {
	svc     *Service
	mu      sync.Mutex
	addrs   map[int32]string
	fetched time.Time
	// refresh asks the next lookup to describe the group again; the last
	// description stays as the fallback while that fails.
	refresh bool
	// failed is when describing the group last failed: for a second after
	// it the fallback answers without describing again, so that lookups
	// queued behind a describe that hung (an instance cut off from the
	// brokers) do not each hang as long in turn.
	failed time.Time
}

func newDirectory(s *Service) *directory { return &directory{svc: s} }

// staleDirectory bounds how long the last description of the owners' group
// answers lookups while the group cannot be described: the longest a member
// keeps its partitions without reaching the coordinator is about its session
// timeout.
const staleDirectory = 30 * time.Second

func (d *directory) invalidate() {
	d.mu.Lock()
	d.refresh = true
	d.mu.Unlock()
}

// lookup returns the owner address of partition p ("" if none is known).
func (d *directory) lookup(ctx context.Context, p int32) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if addr, ok := d.addrs[p]; ok && !d.refresh && time.Since(d.fetched) < 2*time.Second {
		return addr, nil
	}
	if addr, ok := d.addrs[p]; ok && time.Since(d.failed) < time.Second && time.Since(d.fetched) < staleDirectory {
		return addr, nil
	}
	// Bounded as a write is (Config.WriteTimeout): a command waits on the
	// way to its owner no longer than on the owner.
	dctx, cancel := context.WithTimeout(ctx, d.svc.cfg.WriteTimeout)
	defer cancel()
	groups, err := kadm.NewClient(d.svc.admin).DescribeGroups(dctx, d.svc.cfg.Names.CommandGroup)
	if err == nil {
		err = groups.Error() // the group's own error code (its coordinator not available, …)
	}
	if err != nil {
		d.failed = time.Now()
		// The group's coordinator is down or moving (a broker failover):
		// the owners keep their partitions until their sessions end, so
		// the last description is still the best guess for a while. A
		// guess that went stale costs one 421 and a retry at the sender;
		// no answer at all cost every forwarded command a 503 for as long
		// as the client kept asking the dead coordinator (21 s, measured
		// by the fault suite's group-coordinator-kill).
		if addr, ok := d.addrs[p]; ok && time.Since(d.fetched) < staleDirectory {
			return addr, nil
		}
		return "", fmt.Errorf("describe owners group: %w", err)
	}
	addrs := map[int32]string{}
	for _, g := range groups {
		for _, m := range g.Members {
			addr, ok := strings.CutPrefix(m.ClientID, clientIDPrefix)
			if !ok {
				continue
			}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					if t.Topic != d.svc.cfg.Names.Rooms {
						continue
					}
					for _, part := range t.Partitions {
						addrs[part] = addr
					}
				}
			}
		}
	}
	d.addrs, d.fetched, d.refresh = addrs, time.Now(), false
	return addrs[p], nil
}
