package chaos

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"happychat/internal/netfault"
)

// runNetworkPartition cuts command-a, an owner of room partitions, off
// from the brokers under load for Size.NetSplit, then heals the cut. Only
// its connections go through the proxies (internal/netfault, Toxiproxy):
// it is restarted before the load with CHAT_KAFKA_DIAL_MAP (the binary's
// test-only seam) sending every broker address it dials, seed or
// advertised, to its proxy; every other process and server user dials the
// brokers directly, so the shared broker is never cut for anyone else.
//
// The cut instance still answers HTTP: what it acknowledges must be in
// the log (the common lost / duplicate checks over the whole log), and
// its partitions must be served by command-b during the cut: no room may
// go without a write for as long as the cut lasted.
func runNetworkPartition(ctx context.Context, r *run) (err error) {
	a := r.sys.procs[procCommandA]
	brokers, err := advertisedBrokers(ctx, r.sys)
	if err != nil {
		return err
	}
	px, err := netfault.Open(brokers)
	if err != nil {
		return fmt.Errorf("proxies: %w", err)
	}
	undo := a.withEnv("CHAT_KAFKA_DIAL_MAP=" + px.DialMap())
	defer func() {
		// Whatever happened: command-a dials the brokers directly again,
		// then the proxies go.
		undo()
		err = errors.Join(err, px.Heal(context.WithoutCancel(ctx)), r.relaunch(context.WithoutCancel(ctx), procCommandA))
		px.Close()
	}()
	if err := r.relaunch(ctx, procCommandA); err != nil {
		return err
	}
	r.notef("command-a dials the brokers through Toxiproxy: %s", px.DialMap())
	var cut window
	return r.underLoad(ctx, faultPlan{
		lead: 5 * time.Second, tail: 3 * time.Second, // the lead: command-a owns partitions again
		fault: func(ctx context.Context, _ []*room) error {
			r.noteOwners(ctx, "before the cut")
			f := r.fault("network_partition", procCommandA+" from every broker")
			cut.from = time.Now()
			if err := px.Cut(); err != nil {
				return err
			}
			err := pause(ctx, r.size.NetSplit)
			r.noteOwners(ctx, "at the end of the cut")
			err = errors.Join(err, px.Heal(ctx))
			r.endFault(f)
			cut.to, cut.what = f.end, "while command-a was cut off from the brokers"
			r.ackWindows = append(r.ackWindows, cut)
			if err != nil {
				return err
			}
			return r.waitRecovered(ctx, f)
		},
		after: func(context.Context) error {
			r.partitionServed(cut)
			return nil
		},
	})
}

// advertisedBrokers are the addresses the system's brokers advertise in
// metadata: the ones a client dials after the seeds, so the ones to proxy.
func advertisedBrokers(ctx context.Context, s *system) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	md, err := kadm.NewClient(s.kafka).BrokerMetadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker metadata: %w", err)
	}
	var out []string
	for _, b := range md.Brokers {
		out = append(out, fmt.Sprintf("%s:%d", b.Host, b.Port))
	}
	return out, nil
}

// relaunch stops a process cleanly (SIGTERM) and starts it again with its
// current environment, outside any fault: setting a scenario up or back.
func (r *run) relaunch(ctx context.Context, name string) error {
	p := r.sys.procs[name]
	if p.running() {
		if err := p.signal(syscall.SIGTERM); err != nil {
			return err
		}
	}
	if err := p.start(); err != nil {
		return err
	}
	return r.sys.waitReady(ctx, 3*time.Minute)
}

// noteOwners notes how many room partitions each command instance says it
// owns (its happychat_command_owned_partitions gauge). A cut instance
// still answers its metrics over HTTP.
func (r *run) noteOwners(ctx context.Context, when string) {
	r.notef("%s: command-a owns %v partitions, command-b %v", when,
		r.metric(ctx, procCommandA, "happychat_command_owned_partitions"),
		r.metric(ctx, procCommandB, "happychat_command_owned_partitions"))
}

// partitionServed fails the scenario when a partition went without a
// write for as long as the cut: its rooms waited for the heal, so nobody
// served them while their owner was cut off. It also notes each
// partition's longest time without a write and what command-a answered
// during the cut.
func (r *run) partitionServed(cut window) {
	sends := r.l.snapshot()
	gaps := partitionNoWrite(spans(sends), r.size.Partitions)
	r.notef("no write per partition: %s", perPartition(gaps))
	for p, g := range gaps {
		if g.length() >= cut.to.Sub(cut.from) {
			r.fail(finding(KindAvailability, 0, "partition %d acknowledged no write for %s from %s, as long as the %s cut: not served by another instance",
				p, g.length().Round(100*time.Millisecond), g.from.Format("15:04:05.000"), cut.to.Sub(cut.from).Round(time.Second)))
		}
	}
	answers := map[int]int{}
	for _, s := range sends {
		for _, at := range s.attempts {
			if at.target == 0 && !at.at.Before(cut.from) && !at.at.After(cut.to) {
				answers[at.status]++
			}
		}
	}
	r.notef("command-a's answers during the cut (status: count; 0 is none): %v", answers)
}
