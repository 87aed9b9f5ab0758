package chaos

import (
	"context"
	"syscall"
	"time"
)

// faultPlan is a fault scenario: its rooms, every member on a socket, under
// the paced fault load; the fault while that load runs; then the load
// stopped, which ends the scenario's load window. The checks every
// scenario gets (the log against the ledger and the invariants, the
// sockets, the views) follow in finish; after holds the scenario's own.
// A new fault is one faultPlan and a line in scenarios.
type faultPlan struct {
	// rooms is how many rooms of Size.FaultMembers members the load runs
	// on; 0 is Size.FaultRooms.
	rooms int
	// prepare, if set, runs once the rooms are set up, before the load.
	prepare func(ctx context.Context, rooms []*room) error
	// lead is how long the load runs before the fault, tail how long it
	// runs after it; 0 is not at all.
	lead, tail time.Duration
	// fault injects the fault and ends it; it returns once the system is
	// what the scenario calls recovered (waitRecovered, waitReady).
	fault func(ctx context.Context, rooms []*room) error
	// after, if set, runs once the load has stopped: notes and findings
	// from what the load and the fault recorded.
	after func(ctx context.Context) error
}

// underLoad runs a fault scenario. An error aborts the scenario (the load
// is stopped all the same); what ran is still checked.
func (r *run) underLoad(ctx context.Context, p faultPlan) error {
	n := p.rooms
	if n == 0 {
		n = r.size.FaultRooms
	}
	rooms, err := r.setupRooms(ctx, n, r.size.FaultMembers, true)
	if err != nil {
		return err
	}
	if p.prepare != nil {
		if err := p.prepare(ctx, rooms); err != nil {
			return err
		}
	}
	stop := r.startLoad(ctx, r.faultLoad(rooms))
	defer stop()
	if p.lead > 0 {
		if err := pause(ctx, p.lead); err != nil {
			return err
		}
	}
	if err := p.fault(ctx, rooms); err != nil {
		return err
	}
	if p.tail > 0 {
		if err := pause(ctx, p.tail); err != nil {
			return err
		}
	}
	stop()
	if p.after != nil {
		return p.after(ctx)
	}
	return nil
}

// killFor SIGKILLs a process of the system and starts it again after down,
// then waits for every process to be ready. The fault ends at the kill:
// its recovery is the other instances taking over, until every room
// acknowledges again.
func (r *run) killFor(ctx context.Context, name string, down time.Duration) (*Fault, error) {
	p := r.sys.procs[name]
	f := r.fault("sigkill", name)
	if err := p.signal(syscall.SIGKILL); err != nil {
		return f, err
	}
	r.endFault(f)
	if err := pause(ctx, down); err != nil {
		return f, err
	}
	if err := p.start(); err != nil {
		return f, err
	}
	return f, r.sys.waitReady(ctx, 3*time.Minute)
}

// restart stops a process of the system cleanly (SIGTERM: its graceful
// shutdown), starts it again at once and waits for every process to be
// ready: one step of a deploy. The fault ends at the start; its recovery
// is the process ready and every room acknowledging again.
func (r *run) restart(ctx context.Context, name string) (*Fault, error) {
	p := r.sys.procs[name]
	f := r.fault("sigterm_restart", name)
	if err := p.signal(syscall.SIGTERM); err != nil {
		return f, err
	}
	if err := p.start(); err != nil {
		return f, err
	}
	r.endFault(f)
	return f, r.waitRecovered(ctx, f)
}
