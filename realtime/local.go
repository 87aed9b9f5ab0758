package realtime

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Local delivery (issue 16). In one process with the command service (all-in-one
// mode), the partition owners hand every batch they commit to Committed;
// a split instance hands it the records its forwarded sends were answered
// with (cmdproto.CommittedHeader). Either way its events reach this process's sockets as soon as the transaction has
// committed, instead of after the tail's next fetch of them (tens of
// milliseconds under load: the last stable offset moves only once the
// transaction's markers are written, and the fetch follows). Nothing is
// weaker: a committed transaction is durable with acks=all before the
// owner answers, and that is when it is handed here.
//
// The tail still reads every event and stays the source of truth: the hub
// takes a local event only as the room's next seq (dispatchNext), or holds
// it until the events before it are dispatched by either path (a split
// instance's answers arrive in any order), so per-room order and
// exactly-once per socket hold whichever path comes first; anything else
// (a room the hub has not seen an event of yet, an owner that just moved,
// a full queue here or a full hold) waits for the tail, which skips what
// was delivered already (dispatch: seq <= head).

// localSkip says why a local event was left to the tail
// (happychat_realtime_local_events_skipped_total's reason).
type localSkip string

const (
	localTaken    localSkip = ""
	skipDelivered localSkip = "delivered"  // the tail (or a copy) dispatched it first
	skipNoHead    localSkip = "no_head"    // nothing of its room dispatched since tracking began
	skipAheadFull localSkip = "ahead_full" // localAhead events wait for a gap already
	skipHeld      localSkip = "held"       // a copy waits for the gap already
	skipBlocked   localSkip = "blocked"    // the room waits for a newer build (hub.block)
	skipQueueFull localSkip = "queue_full" // localQueue batches wait already
	skipKeys      localSkip = "keys"       // the message keys did not open
)

var localSkips = []localSkip{skipDelivered, skipNoHead, skipAheadFull, skipHeld, skipBlocked, skipQueueFull, skipKeys}

// localQueue bounds the batches waiting for local delivery; past it a
// batch is left to the tail rather than holding its owner up.
const localQueue = 1024

// committed is a transaction's records, as handed to Committed.
type committed struct {
	recs   []*kgo.Record
	handed time.Time
}

// Committed takes the records of a transaction a command owner of this
// process committed. It never blocks.
func (s *Service) Committed(recs []*kgo.Record) {
	select {
	case s.local <- committed{recs, time.Now()}:
	default:
		s.m.localSkipped.WithLabelValues(string(skipQueueFull)).Add(float64(len(recs)))
	}
}

// deliverLocal runs while the tail runs: batches are decoded and opened as
// the tail would (the owners seeded the key cache, so no query is made)
// and dispatched in the order they were committed.
func (s *Service) deliverLocal(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-s.local:
			var envs []schemas.Envelope
			for _, rec := range c.recs {
				room, err := schemas.ParseID(string(rec.Key))
				if err != nil || !s.hub.tracked(room) {
					continue
				}
				env, err := schemas.Events.Decode(rec.Value)
				if err != nil || env.RoomID == 0 || env.Seq <= 0 {
					continue // the tail reports it
				}
				envs = append(envs, env)
			}
			if len(envs) == 0 {
				continue
			}
			if err := s.cfg.MessageKeys.Open(ctx, envs); err != nil {
				s.m.localSkipped.WithLabelValues(string(skipKeys)).Add(float64(len(envs)))
				continue // the tail retries until the store answers
			}
			handed := s.m.localStages.WithLabelValues("handed")
			for _, env := range envs {
				handed.Observe(c.handed.Sub(env.OccurredAt).Seconds())
			}
			dispatched := s.m.localStages.WithLabelValues("dispatched")
			for _, env := range envs {
				if why := s.hub.dispatchNext(env); why == localTaken {
					dispatched.Observe(time.Since(env.OccurredAt).Seconds())
					s.m.localDelivered.Inc()
				} else {
					s.m.localSkipped.WithLabelValues(string(why)).Inc()
				}
			}
		}
	}
}
