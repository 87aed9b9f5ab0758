package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// KindColdJoin: a cold command instance took partitions or said it was
// ready before it had caught up with the log, replayed more than its
// snapshots left it to, or was given no partition (the join tested
// nothing).
const KindColdJoin = "cold_join"

// procCommandCold is the command instance the cold-join scenario adds: a
// fresh process with nothing but what it reads from the snapshots and the
// log.
const procCommandCold = "command-cold"

// runColdJoin: a long history is appended through the public API (the
// suite's own load at full speed, Size.HistorySends messages, the owners
// snapshotting as they go), then, under the fault load, a cold command
// instance joins the owners' group. It must load the snapshots and catch
// up before it takes partitions or answers /readyz 200, replay only what
// the snapshots do not cover, and no partition may wait on it meanwhile:
// the others keep serving until the group hands it its share.
func runColdJoin(ctx context.Context, r *run) error {
	var (
		fill  historyFill
		watch *coldWatch
		from  int // the first send of the fault load in the ledger
	)
	return r.underLoad(ctx, faultPlan{
		prepare: func(ctx context.Context, _ []*room) (err error) {
			fill, err = r.fillHistory(ctx)
			from = len(r.l.snapshot())
			return err
		},
		lead: 2 * time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			snaps, err := r.sys.snapshotOffsets(ctx)
			if err != nil {
				return err
			}
			before, err := r.sys.endOffsets(ctx)
			if err != nil {
				return err
			}
			f := r.fault("cold_join", procCommandCold)
			p, err := r.sys.launchCommand(procCommandCold)
			if err != nil {
				return err
			}
			watch = watchCold(ctx, r.sys, p, f.at)
			if watch.err != nil {
				return watch.err
			}
			r.endFault(f)
			after, err := r.sys.endOffsets(ctx)
			if err != nil {
				return err
			}
			r.checkCold(fill, watch, snaps, before, after)
			if !watch.caughtUp.IsZero() {
				r.ackWindows = append(r.ackWindows, window{from: f.at, to: watch.caughtUp, what: "while the cold instance started and caught up"})
			}
			return r.waitRecovered(ctx, f)
		},
		after: func(context.Context) error {
			sends := r.l.snapshot()
			r.notef("no write per partition under the fault load: %s", perPartition(partitionNoWrite(spans(sends[min(from, len(sends)):]), r.size.Partitions)))
			for _, f := range r.sys.removeCommand(procCommandCold) {
				r.fail(f)
			}
			return nil
		},
	})
}

// historyFill is what fillHistory appended.
type historyFill struct {
	acked int
	took  time.Duration
}

// fillHistory appends Size.HistorySends messages to rooms of their own
// (no sockets: the fault load's rooms carry those) through the public API,
// as fast as the system answers: every one is a real send, in the ledger,
// checked against the log like every other.
func (r *run) fillHistory(ctx context.Context) (historyFill, error) {
	rooms, err := r.setupRooms(ctx, r.size.HistoryRooms, r.size.HistoryMembers, false)
	if err != nil {
		return historyFill{}, err
	}
	n0 := len(r.l.snapshot())
	start := time.Now()
	done := make(chan struct{})
	go func() {
		// A full-size fill takes minutes: say how far it got.
		for {
			select {
			case <-done:
				return
			case <-time.After(30 * time.Second):
				n := len(r.l.snapshot()) - n0
				r.sys.cfg.Log.Info("chaos: filling the history", "sends", n, "of", r.size.HistorySends,
					"per_second", int(float64(n)/time.Since(start).Seconds()))
			}
		}
	}()
	r.sys.api.runLoad(ctx, r.l, loadSpec{rooms: rooms, workers: r.size.HistoryWorkers, count: r.size.HistorySends,
		body: defaultBody(r.name), timeout: r.size.SendTimeout}, nil)
	close(done)
	fill := historyFill{took: time.Since(start)}
	for _, s := range r.l.snapshot()[n0:] {
		if s.Outcome == Acked {
			fill.acked++
		}
	}
	r.notef("history filled through the API: %d of %d sends acknowledged in %s (%.0f/s), %d rooms × %d members, %d clients",
		fill.acked, r.size.HistorySends, fill.took.Round(100*time.Millisecond), float64(fill.acked)/fill.took.Seconds(),
		r.size.HistoryRooms, r.size.HistoryMembers, r.size.HistoryWorkers)
	return fill, ctx.Err()
}

// coldWatch is what the suite saw of the cold instance's start, polling its
// /readyz and /metrics.
type coldWatch struct {
	start time.Time
	// When the suite first saw it answer /readyz 200, caught up (its
	// happychat_command_startup_seconds set) and owning a partition.
	ready, caughtUp, owned time.Time
	startupSeconds         float64
	replayed               float64
	ownedParts             float64
	// Polls that saw it ready, or owning partitions, before it had caught
	// up with the log.
	readyEarly, ownedEarly int
	polls                  int
	err                    error
}

// watchCold polls the cold instance every 50 ms until it is ready and owns
// partitions (bounded).
func watchCold(ctx context.Context, s *system, p *proc, start time.Time) *coldWatch {
	w := &coldWatch{start: start}
	deadline := start.Add(3 * time.Minute)
	for w.ready.IsZero() || w.owned.IsZero() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			w.err = fmt.Errorf("%s not ready and owning partitions %s after its start:\n%s", p.name, time.Since(start).Round(time.Second), p.logTail(30))
			return w
		}
		if !p.running() {
			w.err = fmt.Errorf("%s exited while starting:\n%s", p.name, p.logTail(30))
			return w
		}
		// /readyz first, then the metrics: caught-up never goes back, so a
		// 200 followed by metrics that say "not caught up" was early.
		ready := p.ready(ctx, s.hc)
		m, err := s.scrape(ctx, p.name)
		now := time.Now()
		if err == nil {
			w.polls++
			caught := m["happychat_command_startup_seconds"] > 0
			owned := m["happychat_command_owned_partitions"]
			if caught && w.caughtUp.IsZero() {
				// The process's own figure runs from its service's start,
				// after the binary's set-up: the suite's poll is the bound
				// it can vouch for.
				w.startupSeconds = m["happychat_command_startup_seconds"]
				w.replayed = m["happychat_command_startup_replayed_records"]
				w.caughtUp = now
			}
			if ready && !caught {
				w.readyEarly++
			}
			if owned > 0 && !caught {
				w.ownedEarly++
			}
			if owned > 0 && w.owned.IsZero() {
				w.owned, w.ownedParts = now, owned
			}
			if ready && w.ready.IsZero() {
				w.ready = now
			}
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
	return w
}

// checkCold turns what was seen of the cold start into findings and notes:
// snaps are the newest snapshot offsets and before the log's end offsets
// at its start, after the end offsets once it was ready.
func (r *run) checkCold(fill historyFill, w *coldWatch, snaps map[int32]int64, before, after map[int32]int64) {
	var records, covered, left int64
	for p, end := range before {
		records += end
		covered += min(snaps[p], end)
	}
	for p, end := range after {
		left += end - min(snaps[p], before[p])
	}
	since := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Sub(w.start).Round(time.Millisecond).String()
	}
	r.notef("cold instance: seen caught up %s after its start (its own account, from its service's start: %.3f s), /readyz 200 after %s, first partitions (%.0f) after %s; %.0f records replayed of %d in the log at its start (%d covered by snapshots; %d fill messages); %d polls",
		since(w.caughtUp), w.startupSeconds, since(w.ready), w.ownedParts, since(w.owned), w.replayed, records, covered, fill.acked, w.polls)
	if w.readyEarly > 0 {
		r.fail(finding(KindColdJoin, 0, "%s answered /readyz 200 before it had caught up with the log (%d polls)", procCommandCold, w.readyEarly))
	}
	if w.ownedEarly > 0 {
		r.fail(finding(KindColdJoin, 0, "%s owned partitions before it had caught up with the log (%d polls)", procCommandCold, w.ownedEarly))
	}
	if w.owned.IsZero() {
		r.fail(finding(KindColdJoin, 0, "%s was given no partition: the join tested nothing", procCommandCold))
	}
	// Whatever the snapshots did not cover, up to the log's end once it
	// was ready, is the most it may have replayed; the whole log means
	// the snapshots were not used.
	if int64(w.replayed) > left {
		r.fail(finding(KindColdJoin, 0, "%s replayed %.0f records, more than the %d its snapshots left (the log held %d)", procCommandCold, w.replayed, left, records))
	}
}

// snapshotOffsets are the offsets of the newest command snapshot of each
// partition of the rooms topic (the command service's own table): what a
// cold instance starts its tail from.
func (s *system) snapshotOffsets(ctx context.Context) (map[int32]int64, error) {
	rows, err := s.pg.Query(ctx, `SELECT part, max(off) FROM command_snapshots WHERE topic = $1 GROUP BY part`, s.names.Rooms)
	if err != nil {
		return nil, fmt.Errorf("read snapshot offsets: %w", err)
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var (
			p   int32
			off int64
		)
		if err := rows.Scan(&p, &off); err != nil {
			return nil, err
		}
		out[p] = off
	}
	return out, rows.Err()
}

// endOffsets are the rooms topic's end offsets.
func (s *system) endOffsets(ctx context.Context) (map[int32]int64, error) {
	listed, err := kadm.NewClient(s.kafka).ListEndOffsets(ctx, s.names.Rooms)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			out[o.Partition] = o.Offset
		}
	})
	return out, nil
}
