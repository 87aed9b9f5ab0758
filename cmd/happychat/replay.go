package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"happychat/internal/msgkeys"
	"happychat/projector"
)

// runReplay rebuilds views from the start of the log into new tables while
// the live ones keep serving, then switches to them atomically:
//
//	happychat replay --view rooms|history|all
//
// It shows a progress bar (events/s, lag, ETA) on stderr and prints a summary
// on stdout. The running projectors pick up the new tables by themselves.
// To re-soften history under a new CHAT_PROFANITY_WORDS, restart the
// services with the new words first, then replay the history.
func runReplay(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	view := fs.String("view", projector.ViewAll, "views to rebuild: rooms (PostgreSQL), history (ClickHouse) or all")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !slices.Contains([]string{projector.ViewRooms, projector.ViewHistory, projector.ViewAll}, *view) {
		return fmt.Errorf("--view must be rooms, history or all, not %q", *view)
	}
	p, err := newBrokerProcess(env)
	if err != nil {
		return err
	}
	defer p.close()
	pg, ch, err := p.openProjectorStores(ctx)
	if err != nil {
		return err
	}
	rules, err := p.rules()
	if err != nil {
		return err
	}
	bar := newReplayBar(env.Stderr)
	results, err := projector.Replay(ctx, projector.ReplayConfig{
		View: *view, Kafka: p.kafkaOpts(), Names: p.cfg.Names(),
		Pool: pg, ClickHouse: ch, Rules: rules, Log: p.log.With("service", "replay"),
		MessageKeys: msgkeys.NewReader(pg, p.cfg.Names().Rooms),
		Progress:    bar.update,
	})
	bar.finish()
	if err != nil {
		return err
	}
	for _, r := range results {
		fmt.Fprintf(env.Stdout, "%-8s %d events in %s (%s events/s), %d dead letters, switched in %s\n",
			r.View, r.Events, r.Elapsed.Round(time.Millisecond), replayCount(r.Rate()), r.DeadLetters, r.Switch.Round(time.Millisecond))
	}
	if slices.ContainsFunc(results, func(r projector.ReplayResult) bool { return r.View == projector.ViewHistory }) {
		fmt.Fprintf(env.Stdout, "history softened with rules %s\n", rules.Version())
	}
	return nil
}

// replayBar draws one line per view being replayed: redrawn in place on
// a terminal, printed every few seconds otherwise (logs, CI).
type replayBar struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	views map[string]projector.ReplayProgress
	last  time.Time
	drawn bool
}

func newReplayBar(w io.Writer) *replayBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &replayBar{w: w, tty: tty, views: map[string]projector.ReplayProgress{}}
}

func (b *replayBar) update(pr projector.ReplayProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.views[pr.View] = pr
	now := time.Now()
	if !b.tty && now.Sub(b.last) < 2*time.Second && pr.Phase == "replaying" {
		return
	}
	b.last = now
	line := b.line()
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
	b.drawn = true
}

func (b *replayBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

func (b *replayBar) line() string {
	var parts []string
	for _, name := range []string{projector.ViewRooms, projector.ViewHistory} {
		pr, ok := b.views[name]
		if !ok {
			continue
		}
		parts = append(parts, renderReplayProgress(pr))
	}
	return strings.Join(parts, " | ")
}

// renderReplayProgress draws one view: a 20-cell bar, the share of the log done,
// the rate, the records still to read and the time left.
func renderReplayProgress(pr projector.ReplayProgress) string {
	total := pr.Events + pr.Lag
	frac := 1.0
	if total > 0 {
		frac = float64(pr.Events) / float64(total)
	}
	if pr.Phase != "replaying" {
		frac = 1
	}
	const cells = 20
	full := int(frac * cells)
	bar := strings.Repeat("=", full)
	if full < cells {
		bar += ">" + strings.Repeat(" ", cells-full-1)
	}
	eta := "?"
	switch {
	case pr.Phase != "replaying":
		eta = pr.Phase
	case pr.ETA > 0:
		eta = "ETA " + pr.ETA.Round(100*time.Millisecond).String()
	}
	return fmt.Sprintf("%-7s [%s] %3.0f%% %s events %s/s lag %s %s",
		pr.View, bar, frac*100, replayCount(float64(pr.Events)), replayCount(pr.Rate), replayCount(float64(pr.Lag)), eta)
}

// replayCount renders a count with a k/M suffix.
func replayCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
