package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"happychat/cmd/internal/httpserver"
	"happychat/schemas"
)

// Main is the command line of happychat-bench (see docs/benchmarks.md,
// "Realtime"): flags and environment into a Config, the run, the JSON
// result on stdout (or -out) and a summary on stderr. It is here rather
// than in cmd/happychat-bench so that the end-to-end test in cmd/happychat
// drives it, flags included, against happychat dev in the same process.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("happychat-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := getenv("CHAT_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	cfg := Config{}
	fs.StringVar(&cfg.Mode, "mode", ModeLoad, "load: members send at -rate and deliveries are measured; idle: -conns silent sockets, the server's memory per socket")
	fs.StringVar(&cfg.BaseURL, "url", "http://"+addr, "HTTP API base URL (all-in-one server, or the command service when split)")
	fs.StringVar(&cfg.WSURL, "ws", "", "realtime base URL (ws://host:port); default: derived from -url")
	fs.StringVar(&cfg.AdminToken, "admin-token", getenv("CHAT_ADMIN_TOKEN"), "admin bearer token, to open rooms (default $CHAT_ADMIN_TOKEN)")
	metrics := fs.String("metrics", "", "comma-separated base URLs of the servers' internal listeners, whose /metrics give CPU and memory; default: the default internal listener (127.0.0.1, port + 1000) of -url's server, plus -ws's when it is another one")
	fs.IntVar(&cfg.Rooms, "rooms", 5, "rooms (idle mode: derived from -conns unless set)")
	fs.IntVar(&cfg.Members, "members", 10, "members per room, each on its own socket (at most the room capacity; idle mode default 20)")
	fs.Float64Var(&cfg.Rate, "rate", 50, "load: total sends per second over all members, open loop (slot k due at start + k/rate)")
	fs.StringVar(&cfg.Shape, "shape", ShapeRandom, "load: who sends each slot: random (a random room, then a random member of it) or roundrobin (member k mod rooms×members, room by room: the shape of figures before issue 16)")
	fs.Uint64Var(&cfg.Seed, "seed", DefaultSeed, "load: seed of the random shape's PCG (recorded in the result); the same seed offers the same senders")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "load: how long to send")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "load: longest wait for the last deliveries")
	fs.IntVar(&cfg.BodyBytes, "body", 64, "load: message body size in bytes")
	fs.StringVar(&cfg.PNG, "png", "", "load: draw the send→deliver latency histogram into this PNG file")
	fs.IntVar(&cfg.Conns, "conns", 20000, "idle: sockets to open (clamped to what RLIMIT_NOFILE allows, with a warning)")
	fs.DurationVar(&cfg.Hold, "hold", 60*time.Second, "idle: how long to keep the sockets open")
	fs.DurationVar(&cfg.SettleWait, "settle-wait", 20*time.Second, "idle: longest wait for the server's memory to settle (samples 2 s apart within 1%) before and after the sockets")
	sources := fs.String("source-ips", "127.0.0.1-127.0.0.8", "idle: local addresses to dial from, in turn (a-b, a-lastoctet, comma-separated; \"\" lets the system choose); load: only if set")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 64, "sockets being opened at once")
	out := fs.String("out", "", "write the JSON result to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch cfg.Mode {
	case ModeLoad:
		if set["conns"] || set["hold"] || set["settle-wait"] {
			return errors.New("-conns, -hold and -settle-wait are for -mode idle")
		}
		if cfg.Shape != ShapeRandom && cfg.Shape != ShapeRoundRobin {
			return fmt.Errorf("-shape %q: %s or %s", cfg.Shape, ShapeRandom, ShapeRoundRobin)
		}
	case ModeIdle:
		if cfg.PNG != "" {
			return errors.New("-png draws the latencies of -mode load; an idle run has none")
		}
		if set["shape"] || set["seed"] {
			return errors.New("-shape and -seed choose the senders of -mode load; an idle run sends nothing")
		}
		// The load mode's defaults would make a 50-socket idle run: the
		// idle mode sizes itself from -conns unless told otherwise.
		if !set["rooms"] {
			cfg.Rooms = 0
		}
		if !set["members"] {
			cfg.Members = 0
		}
		if set["rooms"] && !set["conns"] {
			cfg.Conns = 0 // rooms × members
		}
	default:
		return fmt.Errorf("-mode %q: load or idle", cfg.Mode)
	}
	if cfg.AdminToken == "" {
		return errors.New("an admin token is needed to open rooms: -admin-token or CHAT_ADMIN_TOKEN")
	}
	if cfg.Mode == ModeIdle || set["source-ips"] {
		ips, err := ParseSourceIPs(*sources)
		if err != nil {
			return fmt.Errorf("-source-ips: %w", err)
		}
		cfg.SourceIPs = ips
	}
	for m := range strings.SplitSeq(*metrics, ",") {
		if m = strings.TrimSpace(m); m != "" {
			cfg.MetricsURLs = append(cfg.MetricsURLs, m)
		}
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if addr := getenv("CHAT_PPROF_ADDR"); addr != "" {
		// The generator shares the machine with the server: its own
		// profile says what it costs.
		stop, err := httpserver.ServePprof(addr, cfg.Log)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, runErr := Run(ctx, cfg)
	if res == nil {
		return runErr
	}
	// A partial result (an idle run aborted by dial failures) is still
	// written: its counts say why.
	b, err := schemas.Marshal(res)
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("encode result: %w", err))
	}
	b = append(b, '\n')
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return errors.Join(runErr, fmt.Errorf("write result: %w", err))
		}
	} else if _, err := stdout.Write(b); err != nil {
		return errors.Join(runErr, fmt.Errorf("write result: %w", err))
	}
	printSummary(stderr, res)
	return runErr
}

// printSummary writes the result's headline numbers, one line each.
func printSummary(w io.Writer, res *Result) {
	if l := res.LoadResult; l != nil {
		fmt.Fprintf(w, "bench: shape %s seed %d: %.1f sends/s, %.1f deliveries/s in the %.1f s window, lost %d, duplicated %d, out of order %d, skipped %d, errors %v, closed by the server %v (missing on them %d); generator CPU %.2f s (%.2f cores)\n",
			l.Shape, l.Seed, l.SendsPerSec, l.DeliveriesPerSec, l.WindowSec, l.Lost, l.Duplicated, l.OutOfOrder, l.SendsSkipped, l.SendErrors, res.Closes, l.MissedAfterClose, l.GeneratorCPUSec, l.GeneratorCPUCores)
		for _, p := range []struct {
			name string
			p    Percentiles
		}{
			{"slot → deliver", l.Latency}, {"slot → write (issue lag)", l.IssueLag}, {"write → deliver", l.FromWrite},
			{"write → sent_at", l.WriteToSentAt}, {"sent_at → deliver", l.SentAtToDeliver}, {"slot → ack", l.AckLatency},
		} {
			fmt.Fprintf(w, "bench: %-24s ms p50 %.2f p90 %.2f p99 %.2f p999 %.2f max %.2f mean %.2f (%d)\n", p.name, p.p.P50, p.p.P90, p.p.P99, p.p.P999, p.p.Max, p.p.Mean, p.p.Count)
		}
		if l.ReadDelayMean != nil {
			fmt.Fprintf(w, "bench: read delay mean %.2f ms (this process's sent_at → deliver minus the server's sent_at → written)\n", *l.ReadDelayMean)
		}
		if l.GeneratorBound {
			fmt.Fprintln(w, "bench: WARNING generator-bound: its own delay is a large share of the latency (give it a core, or run it on another host)")
		}
	}
	if i := res.IdleResult; i != nil {
		fmt.Fprintf(w, "bench idle: %d of %d sockets open (requested %d, fd limit %d), dial errors %d %v in %.1f s; server %s RSS %.1f → %.1f MiB, %.2f KiB per idle socket (Go heap+stacks in use %.2f KiB), idle CPU %.3f cores\n",
			i.ConnsOpen, i.ConnsTarget, i.ConnsRequested, i.FDLimit, i.DialErrors, i.DialErrorKinds, i.DialSec,
			i.RSSServer, i.RSSBeforeMiB, i.RSSAfterMiB, i.RSSPerIdleConnKiB, i.GoInusePerIdleConnKiB, i.IdleCPUCores)
	}
	for _, s := range res.Servers {
		fmt.Fprintf(w, "bench: server %s: %.2f CPU cores over %.1f s, RSS %.1f MiB at start, %.1f max, %.1f at end",
			s.URL, s.CPUCores, s.WindowSec, s.RSSStartMiB, s.RSSMaxMiB, s.RSSEndMiB)
		if d := s.DeliveryDelay; d != nil {
			fmt.Fprintf(w, "; its sent_at → written ms p50 %.2f p95 %.2f p99 %.2f mean %.2f (%d)", d.P50, d.P95, d.P99, d.Mean, d.Count)
		}
		if s.Error != "" {
			fmt.Fprintf(w, " (scrape error: %s)", s.Error)
		}
		fmt.Fprintln(w)
	}
}
