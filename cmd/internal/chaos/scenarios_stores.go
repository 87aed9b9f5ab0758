package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"happychat/schemas"
)

// storeScenarios stop, pause or fill a store, so they run on a system with a
// PostgreSQL and a ClickHouse of its own (stores.go), after the
// single-broker scenarios: the shared servers are never paused or filled.
// Below the feature level that seals texts the write path depends on
// neither store, so sends must keep being acknowledged; from it on a send
// needs PostgreSQL (its key, docs/adr/0009) and is refused while it is
// paused (expectWrites). The projections stop, skip nothing, and catch up
// once the store is back (the common checks: both views equal the log, no
// dead letter).
var storeScenarios = []scenario{
	{"store-outage", "stop PostgreSQL, then ClickHouse, under load: the projections stop and catch up; sends go on while each is down (refused while PostgreSQL is, from the level that seals texts)", runStoreOutage},
	{"postgres-stall", "pause PostgreSQL (SIGSTOP to all its processes) under load, then continue it: writes go on, the views stop and catch up, nothing skipped", storeStall("postgres")},
	{"clickhouse-stall", "pause ClickHouse (SIGSTOP) under load, then continue it: writes go on, the history stops and catches up, nothing skipped", storeStall("clickhouse")},
	{"clickhouse-disk-full", "fill ClickHouse's data path (a size-limited tmpfs) under load, then free it: the history stops, nothing skipped, it catches up", runDiskFull},
}

// storeStall pauses server for Size.StoreStall under the fault load.
func storeStall(server string) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		return r.underLoad(ctx, faultPlan{
			lead: 2 * time.Second, tail: 2 * time.Second,
			fault: func(ctx context.Context, _ []*room) error {
				srv := r.sys.stores.srv
				f := r.fault("sigstop", server)
				errs0 := r.metric(ctx, procProjector, "happychat_projector_errors_total")
				if err := srv.signalStore(server, syscall.SIGSTOP); err != nil {
					return err
				}
				from := time.Now()
				err := pause(ctx, r.size.StoreStall)
				r.noteProjector(ctx, "paused "+server, errs0)
				// Continue it whatever happened: the system needs it.
				err = errors.Join(err, srv.signalStore(server, syscall.SIGCONT))
				return r.storeBack(ctx, f, err, window{from: from, to: time.Now(), what: "while " + server + " was paused"})
			},
		})
	}
}

// runDiskFull fills the ClickHouse data path for Size.DiskFull under the
// fault load, then frees it; skipped (with a note) where the suite could
// not mount a tmpfs there.
func runDiskFull(ctx context.Context, r *run) error {
	st := r.sys.stores
	if !st.tmpfs {
		r.notef("skipped: %s", st.skipped)
		fmt.Fprintf(r.sys.cfg.Out, "chaos: %s skipped: %s\n", r.name, st.skipped)
		return nil
	}
	return r.underLoad(ctx, faultPlan{
		lead: 2 * time.Second, tail: 2 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			f := r.fault("disk_full", "clickhouse "+st.chDataPath)
			errs0 := r.metric(ctx, procProjector, "happychat_projector_errors_total")
			from := time.Now()
			free, err := fillDisk(st.chDataPath)
			if free == nil {
				return err
			}
			if err == nil {
				err = pause(ctx, r.size.DiskFull)
			}
			r.noteProjector(ctx, "a full ClickHouse disk", errs0)
			err = errors.Join(err, free())
			return r.storeBack(ctx, f, err, window{from: from, to: time.Now(), what: "while ClickHouse's disk was full"})
		},
	})
}

// storeBack ends a store fault: from now on the projections must catch
// up (the scenario's catch-up time), sends must have been acknowledged
// during it (w) where the write path does not need that store, and every
// process must answer /readyz again.
func (r *run) storeBack(ctx context.Context, f *Fault, err error, w window) error {
	r.endFault(f)
	r.catchUpFrom = f.end
	if err != nil {
		return err
	}
	r.expectWrites(f.Target, w)
	return r.waitRecovered(ctx, f)
}

// expectWrites says what sends must do while server was away (w). The
// view stores are no write dependency: sends must be acknowledged. From the
// feature level that seals texts (docs/adr/0009) PostgreSQL is one: a
// send's key is committed there before its event is appended, so sends
// are refused (503) while it is away and none may be acknowledged without
// its key. That is checked by CheckSends on the whole log (an acknowledged
// text must read back), and the window's answers are noted.
func (r *run) expectWrites(server string, w window) {
	if strings.HasPrefix(server, "postgres") && r.sys.sealsTexts() {
		w.dependency = fmt.Sprintf("at feature level %d a send's key is committed to PostgreSQL first", r.sys.level)
	}
	r.ackWindows = append(r.ackWindows, w)
}

// noteProjector notes, at the end of a store fault, how many failures
// (each retried, none skipped) the projector counted during it. Its lag
// gauge is not noted: it is updated when the projector fetches, which a
// projector blocked on its store does not do.
func (r *run) noteProjector(ctx context.Context, what string, errs0 float64) {
	errs := r.metric(ctx, procProjector, "happychat_projector_errors_total")
	r.notef("during %s: the projector counted %v failures (retried)", what, errs-errs0)
}

// sealsTexts reports whether the system runs at a feature level at which
// the command service seals every text: the level of message.sent's
// newest version.
func (s *system) sealsTexts() bool {
	return s.level >= schemas.Events.LevelOf(schemas.TypeMessageSent, schemas.Events.Version(schemas.TypeMessageSent))
}
