package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"happychat/cmd/internal/bench"
	"happychat/schemas"
)

// runBench is `happychat bench`: a load generator opening real WebSockets to
// a running server (see docs/benchmarks.md, "Realtime"). It prints the JSON
// result on stdout (or -out) and a one-line summary on stderr.
func runBench(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	addr := env.Getenv("CHAT_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	cfg := bench.Config{}
	fs.StringVar(&cfg.BaseURL, "url", "http://"+addr, "HTTP API base URL (all-in-one server, or the command service when split)")
	fs.StringVar(&cfg.WSURL, "ws", "", "realtime base URL (ws://host:port); default: derived from -url")
	fs.StringVar(&cfg.AdminToken, "admin-token", env.Getenv("CHAT_ADMIN_TOKEN"), "admin bearer token, to open rooms (default $CHAT_ADMIN_TOKEN)")
	fs.IntVar(&cfg.Rooms, "rooms", 5, "rooms")
	fs.IntVar(&cfg.Members, "members", 10, "members per room, each on its own socket (at most the room capacity)")
	fs.Float64Var(&cfg.Rate, "rate", 50, "total sends per second over all members, open loop")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to send")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "longest wait for the last deliveries")
	fs.IntVar(&cfg.BodyBytes, "body", 64, "message body size in bytes")
	out := fs.String("out", "", "write the JSON result to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.AdminToken == "" {
		return fmt.Errorf("an admin token is needed to open rooms: -admin-token or CHAT_ADMIN_TOKEN")
	}
	cfg.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	b, err := schemas.Marshal(res)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
	} else if _, err := env.Stdout.Write(b); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "bench: %.1f sends/s, %.1f deliveries/s, send→deliver p50 %.1f ms p99 %.1f ms max %.1f ms, lost %d, duplicated %d, errors %v\n",
		res.SendsPerSec, res.DeliveriesPerSec, res.Latency.P50, res.Latency.P99, res.Latency.Max, res.Lost, res.Duplicated, res.SendErrors)
	return nil
}
