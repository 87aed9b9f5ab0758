package chaos

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"happychat/schemas"
)

// KindAborted marks a scenario that could not run to its end (its setup
// failed, a server did not come back): a failure like any other.
const KindAborted = "aborted"

// KindAvailability: sends stopped being acknowledged while only a view
// store was down (the write path does not depend on them).
const KindAvailability = "availability"

// scenario is one fault (or none) under load.
type scenario struct {
	name    string
	summary string
	run     func(ctx context.Context, r *run) error
}

// suite is the state shared by the scenarios of a run.
type suite struct {
	sys  *system
	size Size

	mu sync.Mutex
	// rooms are every room the scenarios made; hoppers every user whose
	// one-room invariant is checked; tallies every scenario's sends.
	rooms   []schemas.ID
	hoppers []schemas.ID
	tally   Tally
}

// run is one scenario being run: what it made, what it did, and what it
// saw, for the checks that follow.
type run struct {
	st    *suite
	sys   *system
	size  Size
	name  string
	start time.Time
	l     *ledger

	rooms   []*room
	subs    []*subscriber
	oneRoom []schemas.ID
	faults  []*Fault
	// extra are the scenario's own findings; notes its observations.
	extra []Finding
	notes []string
	// ackWindows must each see at least one acknowledged send.
	ackWindows []window
	// after runs once the views have caught up.
	after   []func(ctx context.Context) []Finding
	loadEnd time.Time
	// catchUpFrom, if set, is when a store came back: the scenario's
	// catch-up time runs from it until the views equal the log.
	catchUpFrom time.Time

	mu sync.Mutex
}

type window struct {
	from, to time.Time
	what     string
	// dependency is set for a store the write path needs (expectWrites):
	// the window's answers are noted, acknowledgements are not required.
	dependency string
}

func (r *run) notef(format string, args ...any) {
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *run) fail(f Finding) {
	r.mu.Lock()
	r.extra = append(r.extra, f)
	r.mu.Unlock()
}

// fault records the start of a fault.
func (r *run) fault(kind, target string) *Fault {
	f := &Fault{Kind: kind, Target: target, at: time.Now(), RecoveryMS: -1}
	r.faults = append(r.faults, f)
	r.sys.cfg.Log.Info("chaos: fault", "scenario", r.name, "kind", kind, "target", target)
	return f
}

// endFault records the end of a fault: the process restarted, the server
// started again, the process continued.
func (r *run) endFault(f *Fault) { f.end = time.Now() }

// waitRecovered waits until every process answers /readyz again and
// records when.
func (r *run) waitRecovered(ctx context.Context, f *Fault) error {
	if err := r.sys.waitReady(ctx, 3*time.Minute); err != nil {
		return err
	}
	f.ready = time.Now()
	return nil
}

// run runs one scenario and checks what it left in the log, the views and
// the sockets.
func (st *suite) run(ctx context.Context, sc scenario) *Result {
	r := &run{st: st, sys: st.sys, size: st.size, name: sc.name, start: time.Now(), l: &ledger{}}
	res := &Result{Name: sc.name, Summary: sc.summary, RecoveryMS: -1, ProjectionLagMS: -1,
		CatchUpMS: -1, WriteUnavailableMS: -1, FaultSendP99MS: -1}
	st.sys.cfg.Log.Info("chaos: scenario", "name", sc.name)
	if err := sc.run(ctx, r); err != nil {
		res.addFindings(finding(KindAborted, 0, "%v", err))
	}
	if r.loadEnd.IsZero() {
		r.loadEnd = time.Now()
	}
	r.finish(ctx, res)
	res.DurationMS = ms(time.Since(r.start))
	st.mu.Lock()
	st.rooms = append(st.rooms, roomIDs(r.rooms)...)
	st.hoppers = append(st.hoppers, r.oneRoom...)
	st.tally = addTally(st.tally, res.Tally)
	st.mu.Unlock()
	return res
}

func addTally(a, b Tally) Tally {
	if a.Statuses == nil {
		a.Statuses = map[string]int{}
	}
	a.Attempted += b.Attempted
	a.Acknowledged += b.Acknowledged
	a.Failed += b.Failed
	a.Indeterminate += b.Indeterminate
	a.Attempts += b.Attempts
	for k, v := range b.Statuses {
		a.Statuses[k] += v
	}
	return a
}

// ensureRunning restarts any process that is not running (a crash is
// already recorded) and waits for the system to be ready, so that one
// scenario's damage does not become the next one's.
func (s *system) ensureRunning(ctx context.Context) error {
	for _, n := range s.order {
		p := s.procs[n]
		if !p.running() {
			if err := p.start(); err != nil {
				return err
			}
		}
	}
	return s.waitReady(ctx, 3*time.Minute)
}

// finish checks the scenario: the log against the ledger and the
// invariants, the sockets against the log, the views against the log.
func (r *run) finish(ctx context.Context, res *Result) {
	sys := r.sys
	if err := sys.ensureRunning(ctx); err != nil {
		res.addFindings(finding(KindAborted, 0, "the system did not recover: %v", err))
	}
	defer func() {
		for _, s := range r.subs {
			s.stop()
		}
	}()
	sends := r.l.plain()
	res.Tally = TallySends(sends)
	ids := roomIDs(r.rooms)
	set := map[schemas.ID]bool{}
	for _, id := range ids {
		set[id] = true
	}
	fold, err := r.settledFold(ctx, sends)
	if err != nil {
		res.addFindings(finding(KindAborted, 0, "reading the log: %v", err))
		return
	}
	res.addFindings(Only(fold.Findings, set)...)
	res.addFindings(CheckSends(sends, fold)...)
	res.addFindings(CheckStatuses(sends)...)
	if cs := r.l.changesSnapshot(); len(cs) > 0 {
		res.addFindings(CheckChanges(cs, fold)...)
		r.noteChanges(cs)
	}
	res.addFindings(CheckOneRoom(fold, r.oneRoom)...)

	// Sockets and views catch up at the same time.
	var (
		wg     sync.WaitGroup
		viewFs []Finding
		lagEnd time.Time
	)
	wg.Go(func() {
		_, viewFs = sys.waitViews(ctx, fold, ids, r.size.CatchUp)
		lagEnd = time.Now()
	})
	res.addFindings(r.checkSockets(ctx, fold)...)
	wg.Wait()
	res.addFindings(viewFs...)
	if len(viewFs) == 0 {
		res.ProjectionLagMS = ms(lagEnd.Sub(r.loadEnd))
		if !r.catchUpFrom.IsZero() {
			res.CatchUpMS = ms(lagEnd.Sub(r.catchUpFrom))
		}
	}
	for _, f := range r.after {
		res.addFindings(f(ctx)...)
	}
	res.addFindings(r.ackWindowFindings()...)
	res.addFindings(r.extra...)
	res.addFindings(sys.crashes()...)
	r.recovery(res)
	r.writeFigures(res)
	res.Deliveries = r.deliveryStats()
	res.Notes = r.notes
}

// settledFold reads and folds the log up to its last stable offsets,
// rereading (bounded) until every acknowledged send is in and, when the
// scenario checks the one-room invariant, the switch-leaves are. An
// acknowledged commit is durable once its coordinator logged it, but a
// read_committed reader sees it only once the coordinator has written its
// markers to the partition, which a broker failover can delay by seconds
// (seen in group-coordinator-kill: six acknowledged sends past the last
// stable offset of the first read, in the views and the next read); a
// lost send stays missing through every reread.
func (r *run) settledFold(ctx context.Context, sends []*Send) (*Fold, error) {
	deadline := time.Now().Add(r.size.CatchUp)
	for {
		h, err := r.sys.history(ctx)
		if err != nil {
			return nil, err
		}
		f := FoldLog(h.Events, r.size.Capacity)
		settled := len(CheckSends(sends, f)) == 0 && len(CheckChanges(r.l.changesSnapshot(), f)) == 0 &&
			(len(r.oneRoom) == 0 || len(CheckOneRoom(f, r.oneRoom)) == 0)
		if settled || time.Now().After(deadline) {
			return f, nil
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
}

// checkSockets waits until every subscriber has its room's last event (or
// the catch-up time passed), then checks what each received.
func (r *run) checkSockets(ctx context.Context, f *Fold) []Finding {
	deadline := time.Now().Add(r.size.CatchUp)
	for _, s := range r.subs {
		rf := f.Rooms[s.room]
		if rf == nil {
			continue
		}
		for s.lastSeq() < rf.Seq && time.Now().Before(deadline) && ctx.Err() == nil {
			sleepCtx(ctx, 100*time.Millisecond)
		}
	}
	var ds []Delivery
	for _, s := range r.subs {
		s.stop()
		ds = append(ds, s.delivery())
	}
	out := CheckDelivery(ds, f)
	for i := range out {
		for _, s := range r.subs {
			if s.name == deliveryName(out[i].Detail) && s.lastErr != "" {
				out[i].Detail += " (last socket error: " + s.lastErr + ")"
			}
		}
	}
	return out
}

// deliveryName is the subscriber name a delivery finding starts with.
func deliveryName(detail string) string {
	for i := range len(detail) {
		if detail[i] == ':' {
			return detail[:i]
		}
	}
	return ""
}

// ackWindowFindings reports windows without any acknowledged send (but for
// those of a write dependency, only noted).
func (r *run) ackWindowFindings() []Finding {
	var out []Finding
	sends := r.l.snapshot()
	for _, w := range r.ackWindows {
		n, refused := 0, 0
		for _, s := range sends {
			for _, a := range s.attempts {
				if a.at.Before(w.from) || a.at.After(w.to) {
					continue
				}
				switch a.status {
				case http.StatusCreated:
					n++
				case http.StatusServiceUnavailable:
					refused++
				}
			}
		}
		switch {
		case w.dependency != "":
			r.notef("%s (%s), %s: %d sends acknowledged, %d attempts answered 503", w.what, w.to.Sub(w.from).Round(100*time.Millisecond), w.dependency, n, refused)
		case n == 0:
			out = append(out, finding(KindAvailability, 0, "no send was acknowledged %s (%s)", w.what, w.to.Sub(w.from).Round(100*time.Millisecond)))
		default:
			r.notef("%d sends acknowledged %s", n, w.what)
		}
	}
	return out
}

// recovery fills in each fault's recovery time: from its end until every
// process was ready again and every room of the scenario had acknowledged
// a send again.
func (r *run) recovery(res *Result) {
	sends := r.l.snapshot()
	for _, f := range r.faults {
		f.AtMS = ms(f.at.Sub(r.start))
		end := f.end
		if end.IsZero() {
			end = f.at
		}
		f.DurationMS = ms(end.Sub(f.at))
		var worst time.Duration
		measured := false
		if !f.ready.IsZero() {
			worst, measured = f.ready.Sub(end), true
		}
		if !f.resumed.IsZero() {
			worst, measured = max(worst, f.resumed.Sub(end)), true
		}
		first := map[schemas.ID]time.Time{}
		for _, s := range sends {
			if s.Outcome == Acked && !s.acked.Before(end) {
				if t, ok := first[s.Room]; !ok || s.acked.Before(t) {
					first[s.Room] = s.acked
				}
			}
		}
		for _, t := range first {
			worst, measured = max(worst, t.Sub(end)), true
		}
		if measured {
			f.RecoveryMS = ms(worst)
			res.RecoveryMS = max(res.RecoveryMS, f.RecoveryMS)
		}
		res.Faults = append(res.Faults, *f)
	}
}

func (r *run) deliveryStats() DeliveryStats {
	var st DeliveryStats
	var lats []time.Duration
	for _, s := range r.subs {
		s.mu.Lock()
		st.Subscribers++
		st.Frames += len(s.seqs)
		st.Reconnects += s.reconnects
		lats = append(lats, s.latencies...)
		s.mu.Unlock()
	}
	st.P50MS, st.P99MS = quantileMS(lats, 0.50), quantileMS(lats, 0.99)
	return st
}

// quantileMS returns the q-quantile of ds in milliseconds (0 when empty).
func quantileMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q * float64(len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}
