package chaos

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"happychat/schemas"
)

// procCommandC is the third command instance the deploy scenarios add for
// their own duration: a deploy rolls more instances than the two the
// other scenarios need.
const procCommandC = "command-c"

// startCommand adds a command instance to the running system on a free
// address and waits until every process is ready; the clients write to it
// as well from then on.
func (s *system) startCommand(ctx context.Context, name string) (*proc, error) {
	p, err := s.launchCommand(name)
	if err != nil {
		return p, err
	}
	return p, s.waitReady(ctx, 3*time.Minute)
}

// launchCommand adds a command instance to the running system on a free
// address and starts it, without waiting: the clients write to it at once,
// while it starts.
func (s *system) launchCommand(name string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := s.addCommand(name, addr)
	if err != nil {
		return nil, err
	}
	if err := p.start(); err != nil {
		return p, err
	}
	s.api.setCommands(append(*s.api.commands.Load(), p.url()))
	return p, nil
}

// removeCommand stops a command instance that startCommand added (SIGTERM)
// and takes it out of the system and the clients' list. What it did on
// its own (crashes) is returned as findings, since the system's check no
// longer sees it.
func (s *system) removeCommand(name string) []Finding {
	p := s.procs[name]
	s.api.setCommands(slices.DeleteFunc(slices.Clone(*s.api.commands.Load()), func(u string) bool { return u == p.url() }))
	p.stop()
	var out []Finding
	for _, c := range p.takeCrashes() {
		out = append(out, finding(KindProcess, 0, "%s; its log ends:\n%s", c, p.logTail(15)))
	}
	delete(s.procs, name)
	s.order = slices.DeleteFunc(s.order, func(n string) bool { return n == name })
	return out
}

// runServiceRollingRestart is a deploy under load: three command
// instances restarted one at a time (SIGTERM, start, every process ready
// before the next), then the realtime instances and the projector the
// same way. The clients retry as the contract says; nothing acknowledged
// may be lost, and the sockets of a restarted realtime instance resume on
// the other one.
func runServiceRollingRestart(ctx context.Context, r *run) error {
	steps := []string{procCommandA, procCommandB, procCommandC, procRealtime1, procRealtime2, procProjector}
	var realtime []*Fault
	return r.underLoad(ctx, faultPlan{
		prepare: func(ctx context.Context, _ []*room) error {
			_, err := r.sys.startCommand(ctx, procCommandC)
			return err
		},
		lead: 2 * time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			for _, name := range steps {
				f, err := r.restart(ctx, name)
				if err != nil {
					return fmt.Errorf("restart %s: %w", name, err)
				}
				if name == procRealtime1 || name == procRealtime2 {
					realtime = append(realtime, f)
				}
				if err := pause(ctx, r.size.RollEvery); err != nil {
					return err
				}
			}
			return nil
		},
		after: func(context.Context) error {
			r.notef("no write per partition: %s", perPartition(partitionNoWrite(spans(r.l.snapshot()), r.size.Partitions)))
			// A realtime restart's recovery includes its sockets live again
			// on the other instance (or on it, restarted).
			n := 0
			for _, s := range r.subs {
				s.mu.Lock()
				n += s.reconnects
				s.mu.Unlock()
				for _, f := range realtime {
					if t := s.resumedAfter(f.at); t.After(f.resumed) {
						f.resumed = t
					}
				}
			}
			r.notef("%d socket reconnections with since_seq", n)
			for _, f := range r.sys.removeCommand(procCommandC) {
				r.fail(f)
			}
			return nil
		},
	})
}

// clockSkew is how far the skewed command instance's clock is behind.
const clockSkew = -5 * time.Second

// runClockSkew: under load, command-a is restarted with its clock 5 s
// behind (CHAT_CLOCK_OFFSET, the test-only seam of the binary) and takes
// its partitions back, whose last ids command-b minted on the true clock;
// users hop between lobbies across the two clocks; then command-b stops
// (SIGTERM) and the skewed instance takes every partition over while the
// users hop again; command-b comes back and command-a is restarted on the
// true clock. Ids must still strictly increase within every room (the
// fold checks it), and each hopper end in exactly one room.
func runClockSkew(ctx context.Context, r *run) error {
	a, b := r.sys.procs[procCommandA], r.sys.procs[procCommandB]
	var (
		hoppers []*user
		lobbies []*room
	)
	return r.underLoad(ctx, faultPlan{
		prepare: func(ctx context.Context, _ []*room) (err error) {
			if lobbies, err = r.setupRooms(ctx, 2*r.size.Lobbies, 0, false); err != nil {
				return err
			}
			hoppers, err = r.registerUsers(ctx, r.size.Hoppers, "skew-hopper")
			for _, h := range hoppers {
				r.oneRoom = append(r.oneRoom, h.id)
			}
			return err
		},
		lead: 2 * time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			skew := r.fault("clock_skew", fmt.Sprintf("%s %s", procCommandA, clockSkew))
			undo := a.withEnv("CHAT_CLOCK_OFFSET=" + clockSkew.String())
			_, err := r.restart(ctx, procCommandA)
			undo() // its next life runs the true clock
			if err != nil {
				return err
			}
			if err := pause(ctx, 2*time.Second); err != nil {
				return err
			}
			r.hop(ctx, hoppers, lobbies[:r.size.Lobbies])
			stop := r.fault("sigterm", procCommandB)
			if err := b.signal(syscall.SIGTERM); err != nil {
				return err
			}
			// The group hands command-b's partitions to the skewed owner.
			if err := pause(ctx, 2*time.Second); err != nil {
				return err
			}
			r.hop(ctx, hoppers, lobbies[r.size.Lobbies:])
			if err := pause(ctx, 2*time.Second); err != nil {
				return err
			}
			if err := b.start(); err != nil {
				return err
			}
			r.endFault(stop)
			if err := r.waitRecovered(ctx, stop); err != nil {
				return err
			}
			if err := pause(ctx, 2*time.Second); err != nil {
				return err
			}
			// Back to the true clock: partitions move from the skewed owner
			// to owners whose clocks are ahead of its ids.
			if _, err := r.restart(ctx, procCommandA); err != nil {
				return err
			}
			r.endFault(skew)
			return r.waitRecovered(ctx, skew)
		},
		after: func(context.Context) error {
			sends := r.l.snapshot()
			r.notef("no write per partition: %s", perPartition(partitionNoWrite(spans(sends), r.size.Partitions)))
			// The skew at work: acknowledged ids whose time is well before
			// the send began were minted on the slow clock.
			slow := 0
			for _, s := range sends {
				if s.Outcome == Acked && schemas.IDTime(s.AckID).Before(s.start.Add(clockSkew/2)) {
					slow++
				}
			}
			if slow == 0 {
				r.fail(finding(KindAborted, 0, "no acknowledged id carries the slow clock's time: the skew tested nothing"))
			}
			r.notef("%d acknowledged sends carry an id minted on the clock %s behind", slow, -clockSkew)
			return nil
		},
	})
}
