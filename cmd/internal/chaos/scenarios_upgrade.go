package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"happychat/schemas"
)

// procPrevious is the previous-release command instance that the
// rolling-upgrade scenario starts after the cluster's feature level was
// raised, to see it refuse.
const procPrevious = "command-previous"

// upgradeLogouts is how many users log out once the level is raised: each
// logout is one event of the type the previous release does not know.
const upgradeLogouts = 4

// runRollingUpgrade is a release's deploy under load (docs/command.md,
// "Rolling upgrades"): the system runs the previous release's binary
// (Config.PreviousBin, built from git), then every process is replaced by
// this build, one at a time, ready before the next. While any instance of
// the previous release lives, raising the cluster's feature level is
// refused; once all are replaced the operator raises it, and this build
// emits the event type the previous release does not know (a logout:
// session.revoked on the users topic), which every role then honours. A
// previous-release command instance started after that refuses to run. The
// suite's checks of the whole history follow: nothing acknowledged lost,
// no seq repeated, views equal to the log.
func runRollingUpgrade(ctx context.Context, r *run) error {
	prev := r.sys.cfg.PreviousBin
	if prev == "" {
		return errors.New("no previous release to upgrade from: --previous-bin (make chaos builds it from git, CHAOS_UPGRADE_FROM)")
	}
	steps := []string{procCommandA, procCommandB, procCommandC, procQuery, procRealtime1, procRealtime2, procProjector}
	var leavers []*user
	return r.underLoad(ctx, faultPlan{
		prepare: func(ctx context.Context, _ []*room) error {
			var err error
			if leavers, err = r.registerUsers(ctx, upgradeLogouts, "upgrade-logout"); err != nil {
				return err
			}
			if _, err := r.sys.startCommand(ctx, procCommandC); err != nil {
				return err
			}
			// The system as it ran before the deploy: every process on the
			// previous release.
			for _, name := range steps {
				p := r.sys.procs[name]
				p.setBin(prev)
				if err := p.signal(syscall.SIGTERM); err != nil {
					return err
				}
				if err := p.start(); err != nil {
					return err
				}
			}
			return r.sys.waitReady(ctx, 3*time.Minute)
		},
		lead: 2 * time.Second, tail: 3 * time.Second,
		fault: func(ctx context.Context, _ []*room) error {
			level := schemas.FeatureLevel
			for i, name := range steps {
				r.sys.procs[name].setBin(r.sys.cfg.Bin)
				if _, err := r.restart(ctx, name); err != nil {
					return fmt.Errorf("upgrade %s: %w", name, err)
				}
				if i == 0 {
					// A mixed fleet: the previous release would meet events
					// it cannot read, so the level must not move.
					out, err := r.sys.features(ctx, level)
					if err == nil {
						r.fail(finding(KindStatus, 0, "features --set %d accepted while previous-release instances ran:\n%s", level, out))
					} else {
						r.notef("features --set %d refused while previous-release instances ran: %s", level, lastLines(out, 1))
					}
				}
				if err := pause(ctx, r.size.RollEvery); err != nil {
					return err
				}
			}
			raised := r.fault("feature_level", fmt.Sprintf("--set %d", level))
			if err := r.sys.raiseLevel(ctx, level); err != nil {
				return err
			}
			r.notef("feature level raised to %d", level)
			r.endFault(raised)
			for _, u := range leavers {
				if err := r.logout(ctx, u); err != nil {
					r.fail(finding(KindStatus, 0, "%v", err))
				}
			}
			for _, u := range leavers {
				if err := r.refusedEverywhere(ctx, u); err != nil {
					r.fail(finding(KindStatus, 0, "%v", err))
				}
			}
			return r.previousRefuses(ctx, prev)
		},
		after: func(context.Context) error {
			for _, f := range r.sys.removeCommand(procCommandC) {
				r.fail(f)
			}
			return nil
		},
	})
}

// features runs this build's `happychat features --set level`.
func (s *system) features(ctx context.Context, level int) (string, error) {
	return runOnce(ctx, s.cfg.Bin, s.env, filepath.Join(s.work, "features.log"), time.Minute, "features", fmt.Sprintf("--set=%d", level))
}

// raiseLevel raises the cluster's feature level once every instance runs
// this build: retried while the fleet still counts a previous life (a clean
// stop withdraws its heartbeat, a crash lets it expire).
func (s *system) raiseLevel(ctx context.Context, level int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := s.features(ctx, level)
		if err == nil {
			s.level = level
			return s.waitLevel(ctx, level)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("raise the feature level to %d with every instance upgraded: %w\n%s", level, err, out)
		}
		if err := pause(ctx, 2*time.Second); err != nil {
			return err
		}
	}
}

// waitLevel waits until every running command instance emits at level: a
// raise reaches an instance at its next lease renewal, and a scenario that
// began before would run below the level it reports.
func (s *system) waitLevel(ctx context.Context, level int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		var behind []string
		for _, n := range s.order {
			if !strings.HasPrefix(n, "command-") || !s.procs[n].running() {
				continue
			}
			m, err := s.scrape(ctx, n)
			if err != nil || m["happychat_command_feature_level"] != float64(level) {
				behind = append(behind, fmt.Sprintf("%s (%v, %v)", n, m["happychat_command_feature_level"], err))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("command instances not at feature level %d a minute after it was raised: %s", level, strings.Join(behind, ", "))
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// logout ends u's session through a command instance.
func (r *run) logout(ctx context.Context, u *user) error {
	for attempt := 0; ; attempt++ {
		_, base := r.sys.api.command(attempt)
		ans := r.sys.api.do(ctx, http.MethodDelete, base+"/v1/sessions/current", u.token, nil)
		switch {
		case ans.status == http.StatusNoContent:
			return nil
		case ans.retryable() && attempt < 50 && ctx.Err() == nil:
			if err := pause(ctx, ans.pause(attempt)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("logout of %s with every instance upgraded and the level raised: %s", u.nick, ans)
		}
	}
}

// refusedEverywhere checks, within the bound the contract gives a logout
// to reach every instance, that u's token is refused by every command
// instance and the query service.
func (r *run) refusedEverywhere(ctx context.Context, u *user) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var accepted []string
		for _, base := range *r.sys.api.commands.Load() {
			ans := r.sys.api.do(ctx, http.MethodPost, base+"/v1/rooms/1/join", u.token, nil)
			if ans.status != http.StatusUnauthorized {
				accepted = append(accepted, fmt.Sprintf("%s: %s", base, ans))
			}
		}
		ans := r.sys.api.do(ctx, http.MethodGet, r.sys.api.query+"/v1/rooms", u.token, nil)
		if ans.status != http.StatusUnauthorized {
			accepted = append(accepted, fmt.Sprintf("query: %s", ans))
		}
		if len(accepted) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s's token still served 30 s after the logout: %s", u.nick, strings.Join(accepted, "; "))
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// previousRefuses starts a command instance of the previous release after
// the level was raised: it must exit rather than serve.
func (r *run) previousRefuses(ctx context.Context, prev string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	p, err := r.sys.addCommand(procPrevious, addr)
	if err != nil {
		return err
	}
	p.setBin(prev)
	defer r.sys.removeCommand(procPrevious) // its exit is the expected outcome, not a crash
	if err := p.start(); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for p.running() {
		if time.Now().After(deadline) {
			r.fail(finding(KindStatus, 0, "a previous-release command instance still runs a minute after the feature level was raised; its log ends:\n%s", p.logTail(15)))
			return nil
		}
		if err := pause(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	r.notef("a previous-release command instance refused to start: %s", strings.TrimSpace(p.logTail(1)))
	return nil
}
