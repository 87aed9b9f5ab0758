package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"
)

// scenarios run in this order on one system: the baseline first (nothing
// broken yet), then the faults, the replays (they rebuild everything the
// others wrote), and the cold join with its long history.
var scenarios = []scenario{
	{"baseline", "rooms × members on sockets, sends as fast as answered; users hopping between rooms", runBaseline},
	{"projector-kill", "SIGKILL the projector (PostgreSQL and ClickHouse projectors) every few seconds under load", runProjectorKill},
	{"kafka-restart", "restart the Kafka broker under load (SIGTERM; SIGKILL at full size); clients retry", runKafkaRestart},
	{"command-kill", "SIGKILL a command instance owning partitions; clients retry with the same client_msg_id; capacity storms", runCommandKill},
	{"command-stop", "SIGSTOP a command instance past its session timeout, SIGCONT it: its late writes are fenced", runCommandStop},
	{"rolling-restart", "a deploy: 3 command instances restarted one at a time (SIGTERM, ready before the next), then the realtime instances and the projector", runServiceRollingRestart},
	{"rolling-upgrade", "a release's deploy: the system on the previous release (built from git), every process replaced one at a time; the feature level raised once all run this build, which then emits an event type the previous one does not know", runRollingUpgrade},
	{"clock-skew", "a command instance whose clock runs 5 s behind takes partitions over (all of them while the other is stopped); users hop between rooms", runClockSkew},
	{"network-partition", "cut a command instance off from the brokers (a Toxiproxy in front of each, for it alone), heal it: it acknowledges nothing it did not commit, the other serves its partitions", runNetworkPartition},
	{"realtime-kill", "SIGKILL a realtime instance: its sockets resume on the other with since_seq", runRealtimeKill},
	{"slow-reader", "a socket that stops reading in a busy room: cut off (4008), memory bounded, the others unaffected", runSlowReader},
	{"poison", "undecodable records on the rooms topic: dead-lettered once, counted, nothing else skipped", runPoison},
	{"replay", "rebuild every view from the log while serving reads: views after equal views before, queries answer", runReplay},
	{"replay-live", "rebuild every view while sends continue: the replay ends, and the views equal the log", runReplayLive},
	// Last: its long history would lengthen every scenario's check of the
	// log after it, and the replays.
	{"cold-join", "after a long history (1 M messages at full size), a cold command instance joins under load: it loads snapshots and catches up before it is ready or takes partitions; nothing waits on it", runColdJoin},
}

func runBaseline(ctx context.Context, r *run) error {
	rooms, err := r.setupRooms(ctx, r.size.Rooms, r.size.Members, true)
	if err != nil {
		return err
	}
	lobbies, err := r.setupRooms(ctx, r.size.Lobbies, 0, false)
	if err != nil {
		return err
	}
	hoppers, err := r.registerUsers(ctx, r.size.Hoppers, "hopper")
	if err != nil {
		return err
	}
	for _, h := range hoppers {
		r.oneRoom = append(r.oneRoom, h.id)
	}
	stop := r.startLoad(ctx, loadSpec{rooms: rooms, workers: r.size.Workers, count: r.size.Sends,
		body: defaultBody(r.name), timeout: r.size.SendTimeout})
	r.hop(ctx, hoppers, lobbies)
	stop()
	return nil
}

// hop has every hopper join every lobby at once, through every command
// instance: the fold must end with each in exactly one room (the scenario
// lists them in r.oneRoom).
func (r *run) hop(ctx context.Context, hoppers []*user, lobbies []*room) {
	var wg sync.WaitGroup
	for _, h := range hoppers {
		for _, lb := range lobbies {
			wg.Go(func() {
				if ans := r.sys.api.join(ctx, h, lb.id); ans.status != http.StatusOK {
					r.fail(finding(KindStatus, lb.id, "hopper %s joining: %s", h.nick, ans))
				}
			})
		}
	}
	wg.Wait()
}

func runProjectorKill(ctx context.Context, r *run) error {
	p := r.sys.procs[procProjector]
	return r.underLoad(ctx, faultPlan{tail: 2 * time.Second, fault: func(ctx context.Context, _ []*room) error {
		for range r.size.ProjectorKills {
			if err := pause(ctx, r.size.KillEvery); err != nil {
				return err
			}
			f := r.fault("sigkill", procProjector)
			if err := p.signal(syscall.SIGKILL); err != nil {
				return err
			}
			if err := p.start(); err != nil {
				return err
			}
			r.endFault(f)
			if err := r.waitRecovered(ctx, f); err != nil {
				return err
			}
		}
		return nil
	}})
}

func runStoreOutage(ctx context.Context, r *run) error {
	return r.underLoad(ctx, faultPlan{tail: 2 * time.Second, fault: func(ctx context.Context, _ []*room) error {
		for _, server := range []string{"postgres", "clickhouse"} {
			if err := pause(ctx, 2*time.Second); err != nil {
				return err
			}
			f := r.fault("server_stop", server)
			srv := r.sys.stores.srv
			if err := srv.run(ctx, server, "stop"); err != nil {
				return err
			}
			down := time.Now()
			err := pause(ctx, r.size.StoreOutage)
			up := time.Now()
			// Start it whatever happened: the next scenarios need it.
			if serr := srv.run(context.WithoutCancel(ctx), server, "start"); serr != nil {
				return serr
			}
			r.endFault(f)
			if err != nil {
				return err
			}
			r.expectWrites(server, window{from: down, to: up, what: "while " + server + " was down"})
			if err := r.waitRecovered(ctx, f); err != nil {
				return err
			}
		}
		return nil
	}})
}

func runKafkaRestart(ctx context.Context, r *run) error {
	var outages []window
	return r.underLoad(ctx, faultPlan{
		tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			for _, mode := range r.size.KafkaRestarts {
				if err := pause(ctx, 3*time.Second); err != nil {
					return err
				}
				var f *Fault
				switch mode {
				case "sigterm":
					f = r.fault("sigterm", "kafka")
					if err := r.sys.srv.run(ctx, "kafka", "stop"); err != nil {
						return err
					}
				case "sigkill":
					if !r.sys.kafkaOurs {
						r.notef("SIGKILL of the broker skipped: the suite kills only a broker it started itself")
						continue
					}
					f = r.fault("sigkill", "kafka")
					if err := r.sys.srv.killKafka(); err != nil {
						return err
					}
				default:
					return fmt.Errorf("unknown Kafka restart mode %q", mode)
				}
				down := time.Now()
				err := pause(ctx, r.size.KafkaDown)
				up := time.Now()
				if serr := r.sys.srv.run(context.WithoutCancel(ctx), "kafka", "start"); serr != nil {
					return serr
				}
				r.sys.kafkaOurs = true
				r.endFault(f)
				if err != nil {
					return err
				}
				outages = append(outages, window{from: down, to: up, what: "while the broker was down (" + mode + ")"})
				if err := r.waitRecovered(ctx, f); err != nil {
					return err
				}
			}
			return nil
		},
		// While the broker is down nothing can be appended: an answer then
		// is a 503 or none, or a 201 for a retry of a send committed before
		// (the owner answers it from its state), which the log check
		// verifies.
		after: func(context.Context) error {
			for _, w := range outages {
				by := map[int]int{}
				for _, s := range r.l.snapshot() {
					for _, a := range s.attempts {
						if !a.at.Before(w.from) && !a.at.After(w.to) {
							by[a.status]++
						}
					}
				}
				r.notef("answers %s: %s", w.what, statusCounts(by))
			}
			return nil
		},
	})
}

func runCommandKill(ctx context.Context, r *run) error {
	var stormers []*user
	return r.underLoad(ctx, faultPlan{
		prepare: func(ctx context.Context, _ []*room) (err error) {
			stormers, err = r.registerUsers(ctx, r.size.StormRounds*2*r.size.Capacity, "storm")
			return err
		},
		// No lead: the storms start with the load, the kill 2 s later.
		fault: func(ctx context.Context, _ []*room) error {
			stormDone := make(chan struct{})
			defer func() { <-stormDone }()
			go func() {
				defer close(stormDone)
				r.capacityStorms(ctx, stormers)
			}()
			if err := pause(ctx, 2*time.Second); err != nil {
				return err
			}
			// Restart the instance once the other one has taken everything
			// over (after the 6 s session timeout).
			if _, err := r.killFor(ctx, procCommandA, 9*time.Second); err != nil {
				return err
			}
			if err := pause(ctx, 3*time.Second); err != nil {
				return err
			}
			<-stormDone // the storms' joins are part of the load
			return nil
		},
	})
}

// capacityStorms has twice the capacity join one room at once, through
// both instances, round after round (while the kill happens); stormers are
// the joiners of every round.
func (r *run) capacityStorms(ctx context.Context, stormers []*user) {
	joiners := 2 * r.size.Capacity
	for i := range r.size.StormRounds {
		id, err := r.sys.api.openRoom(ctx, fmt.Sprintf("storm %d", i))
		if err != nil {
			r.fail(finding(KindAborted, 0, "storm room: %v", err))
			return
		}
		r.mu.Lock()
		r.rooms = append(r.rooms, &room{id: id})
		r.mu.Unlock()
		statuses := r.joinAll(ctx, stormers[i*joiners:(i+1)*joiners], id)
		by := map[int]int{}
		for _, st := range statuses {
			by[st]++
		}
		if by[http.StatusOK] > r.size.Capacity {
			r.fail(finding(KindJoins, id, "%d joins acknowledged, capacity %d", by[http.StatusOK], r.size.Capacity))
		}
		if other := len(statuses) - by[http.StatusOK] - by[http.StatusConflict]; other > 0 {
			r.fail(finding(KindStatus, id, "storm joins answered %s", statusCounts(by)))
		}
		r.notef("storm %d: %s", i, statusCounts(by))
		if pause(ctx, 2*time.Second) != nil {
			return
		}
	}
}

func runCommandStop(ctx context.Context, r *run) error {
	a := r.sys.procs[procCommandA]
	var (
		mark int64
		cont time.Time
	)
	return r.underLoad(ctx, faultPlan{
		lead: 2 * time.Second, tail: 4 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			mark = a.logSize()
			f := r.fault("sigstop", procCommandA)
			if err := a.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			err := pause(ctx, r.size.StopFor)
			cont = time.Now()
			if cerr := a.signal(syscall.SIGCONT); cerr != nil {
				return cerr
			}
			r.endFault(f)
			if err != nil {
				return err
			}
			return r.waitRecovered(ctx, f)
		},
		after: func(context.Context) error {
			// What the continued instance answered to requests it took
			// before or during the stop: each 201 among them is checked
			// against the log like every other acknowledgement.
			by := map[int]int{}
			for _, s := range r.l.snapshot() {
				for _, at := range s.attempts {
					if at.target == 0 && !at.at.Before(cont) && at.at.Before(cont.Add(5*time.Second)) {
						by[at.status]++
					}
				}
			}
			r.notef("command-a's answers in the 5 s after SIGCONT: %s", statusCounts(by))
			// Its own account: appends refused as fenced, owners stopped.
			logged := a.logSince(mark)
			r.notef("command-a logged %d appends refused as fenced and %d owners stopped as fenced after SIGCONT",
				strings.Count(logged, "fenced=true"), strings.Count(logged, "fenced by a newer owner"))
			return nil
		},
	})
}

func runRealtimeKill(ctx context.Context, r *run) error {
	var f *Fault
	return r.underLoad(ctx, faultPlan{
		lead: 2 * time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) (err error) {
			f, err = r.killFor(ctx, procRealtime1, 3*time.Second)
			return err
		},
		after: func(context.Context) error {
			n := 0
			for _, s := range r.subs {
				s.mu.Lock()
				n += s.reconnects
				s.mu.Unlock()
				// Recovery includes every dropped socket being live again.
				if t := s.resumedAfter(f.at); t.After(f.resumed) {
					f.resumed = t
				}
			}
			if n == 0 {
				r.fail(finding(KindDelivery, 0, "no socket had to reconnect: the kill tested nothing"))
			}
			r.notef("%d reconnections with since_seq", n)
			return nil
		},
	})
}

// statusCounts renders {201: 5, 503: 2} as "201×5 503×2".
func statusCounts(by map[int]int) string {
	if len(by) == 0 {
		return "none"
	}
	var parts []string
	for st := range 600 {
		if n := by[st]; n > 0 {
			label := fmt.Sprint(st)
			if st == 0 {
				label = "no-answer"
			}
			parts = append(parts, fmt.Sprintf("%s×%d", label, n))
		}
	}
	return strings.Join(parts, " ")
}
