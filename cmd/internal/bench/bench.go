package bench

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Modes of a run.
const (
	// ModeLoad has members send at an open-loop rate and measures the
	// deliveries.
	ModeLoad = "load"
	// ModeIdle opens many sockets that send nothing and measures the
	// server's memory per open socket.
	ModeIdle = "idle"
)

// Run runs one benchmark: in load mode it sets up the rooms and sockets,
// runs the load for cfg.Duration, drains and reports; in idle mode see
// runIdle. On a failure after the sockets opened it may return a partial
// result along with the error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.setDefaults()
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q must be http(s)://host:port", cfg.BaseURL)
	}
	wsBase := strings.TrimSuffix(cfg.WSURL, "/")
	if wsBase == "" {
		wsBase = "ws" + strings.TrimPrefix(base, "http")
	}
	if u, err := url.Parse(wsBase); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("realtime URL %q must be ws(s)://host:port", cfg.WSURL)
	}
	targets := slices.Clone(cfg.MetricsURLs)
	if len(targets) == 0 {
		// /metrics are on the servers' internal listeners.
		for _, t := range metricsTargets(base, wsBase) {
			targets = append(targets, internalURL(t))
		}
	}
	for i, t := range targets {
		targets[i] = strings.TrimSuffix(t, "/")
	}
	api := &apiClient{base: base, http: httpClient(cfg.SetupWorkers)}
	watch := newServerWatch(targets)
	switch cfg.Mode {
	case ModeLoad:
		return runLoad(ctx, cfg, api, wsBase, watch)
	case ModeIdle:
		return runIdle(ctx, cfg, api, wsBase, watch)
	}
	return nil, fmt.Errorf("unknown mode %q (load or idle)", cfg.Mode)
}
