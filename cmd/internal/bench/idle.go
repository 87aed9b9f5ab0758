package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// IdleResult is the idle mode's part of the report: how much memory the
// server holds per open, silent socket.
type IdleResult struct {
	// ConnsRequested is -conns; ConnsTarget is what was attempted: fewer
	// when this process's RLIMIT_NOFILE (FDLimit) does not allow as many
	// sockets with fdMargin descriptors kept free.
	ConnsRequested int    `json:"conns_requested"`
	FDLimit        uint64 `json:"fd_limit"`
	ConnsTarget    int    `json:"conns_target"`
	// ConnsOpen is the sockets open when the memory was sampled after the
	// hold; ConnsDropped the ones the server closed before (their close
	// codes are in unexpected_closes).
	ConnsOpen    int `json:"conns_open"`
	ConnsDropped int `json:"conns_dropped"`
	// DialErrors counts the sockets that failed to open, by kind in
	// DialErrorKinds (status 503, timeout, reset, ...).
	DialErrors     int            `json:"dial_errors"`
	DialErrorKinds map[string]int `json:"dial_error_kinds"`
	SourceIPs      int            `json:"source_ips"`
	SetupSec       float64        `json:"setup_sec"`
	DialSec        float64        `json:"dial_sec"`
	DialsPerSec    float64        `json:"dials_per_sec"`
	HoldSec        float64        `json:"hold_sec"`
	// RSSServer is the server whose memory is measured: the realtime one
	// among the scraped servers, by its public URL when it is known which
	// target is its internal listener.
	RSSServer        string  `json:"rss_server"`
	RSSBeforeMiB     float64 `json:"rss_before_mib"`
	RSSBeforeSettled bool    `json:"rss_before_settled"`
	RSSAfterMiB      float64 `json:"rss_after_mib"`
	RSSAfterSettled  bool    `json:"rss_after_settled"`
	// RSSPerIdleConnKiB is (after − before) / ConnsOpen.
	RSSPerIdleConnKiB float64 `json:"rss_per_idle_conn_kib"`
	// GoInuse* are the same for the Go runtime's heap and stacks in use,
	// sampled along with the RSS (absent if the server does not expose
	// them): the RSS also holds the heap the collector lets grow before
	// its next cycle (up to GOGC% of the live heap) and freed pages not yet
	// returned, so it varies between runs more than this does.
	GoInuseBeforeMiB      float64 `json:"go_inuse_before_mib,omitzero"`
	GoInuseAfterMiB       float64 `json:"go_inuse_after_mib,omitzero"`
	GoInusePerIdleConnKiB float64 `json:"go_inuse_per_idle_conn_kib,omitzero"`
	// IdleCPUCores is RSSServer's CPU over the hold (also in servers).
	IdleCPUCores float64 `json:"idle_cpu_cores"`
}

// How a memory sample settles: two samples this far apart that differ by
// less than this fraction (or the last one after Config.SettleWait).
const (
	settleGap = 2 * time.Second
	settleTol = 0.01
)

// runIdle is the idle mode: members are set up through the API, the
// realtime server's memory is sampled, every member opens its socket and
// stays silent for cfg.Hold (a reader per socket answers the server's
// pings), the memory is sampled again, and every socket is closed.
func runIdle(ctx context.Context, cfg Config, api *apiClient, wsBase string, watch *serverWatch) (*Result, error) {
	fdLimit, err := raiseFDLimit()
	if err != nil {
		return nil, err
	}
	target := clampConns(cfg.Conns, fdLimit, fdMargin)
	if target == 0 {
		return nil, fmt.Errorf("RLIMIT_NOFILE is %d: no room for a single socket with %d descriptors kept free", fdLimit, fdMargin)
	}
	rooms := (target + cfg.Members - 1) / cfg.Members
	res := &Result{Mode: ModeIdle, Rooms: rooms, Members: cfg.Members, Closes: map[string]int64{}, Errors: []string{},
		IdleResult: &IdleResult{ConnsRequested: cfg.Conns, FDLimit: fdLimit, ConnsTarget: target,
			DialErrorKinds: map[string]int{}, SourceIPs: len(cfg.SourceIPs)}}
	if target < cfg.Conns {
		msg := fmt.Sprintf("-conns %d clamped to %d: RLIMIT_NOFILE is %d here (hard limit) and %d descriptors are kept free",
			cfg.Conns, target, fdLimit, fdMargin)
		cfg.Log.Warn("bench: " + msg)
		res.Errors = append(res.Errors, msg)
	}
	if err := checkSources(ctx, cfg.SourceIPs, wsBase); err != nil {
		return nil, err
	}
	// The realtime server is the one whose memory grows with sockets.
	// It is named by its public URL, the one the sockets dial: its /metrics
	// are on its internal listener, found among the targets by the default
	// address, or the only target.
	rssIdx, found := 0, len(watch.urls) == 1
	for i, u := range watch.urls {
		if sameServer(u, httpOf(wsBase)) || sameServer(u, internalURL(httpOf(wsBase))) {
			rssIdx, found = i, true
		}
	}
	res.RSSServer = watch.urls[rssIdx]
	if found {
		res.RSSServer = httpOf(wsBase)
	}
	if _, err := watch.scrape(ctx, rssIdx); err != nil {
		return nil, fmt.Errorf("idle mode measures the realtime server's memory, and its /metrics cannot be read (see -metrics): %w", err)
	}

	sizes := make([]int, rooms)
	for r := range sizes {
		sizes[r] = min(cfg.Members, target-r*cfg.Members)
	}
	cfg.Log.Info("bench: setting up", "rooms", rooms, "members", cfg.Members, "sockets", target)
	setupStart := time.Now()
	members, err := setup(ctx, api, cfg, sizes, cfg.SetupWorkers)
	if err != nil {
		return nil, err
	}
	res.SetupSec = round(time.Since(setupStart).Seconds())

	before, settled, err := watch.settledRSS(ctx, rssIdx, settleGap, cfg.SettleWait, settleTol)
	if err != nil {
		return nil, fmt.Errorf("memory before the sockets: %w", err)
	}
	res.RSSBeforeMiB, res.RSSBeforeSettled = mib(before.rssBytes), settled
	cfg.Log.Info("bench: server memory before the sockets", "rss_mib", res.RSSBeforeMiB, "settled", settled)

	var (
		readers sync.WaitGroup
		closing atomic.Bool
		dropped atomic.Int64
		mu      sync.Mutex
	)
	onClose := func(err error) {
		if closing.Load() {
			return
		}
		dropped.Add(1)
		mu.Lock()
		defer mu.Unlock()
		res.Closes[closeKind(err)]++
	}
	// Small buffers: the frames of an idle socket are a presence list and
	// pings, and 20,000 sockets' default 4 KiB buffers would be 160 MiB of
	// this process's memory for nothing.
	dialer := newDialer(cfg.SourceIPs, cfg.HandshakeTimeout, 1024)
	cfg.Log.Info("bench: opening sockets", "sockets", target, "concurrency", cfg.DialConcurrency, "source_ips", len(cfg.SourceIPs))
	dr, dialErr := dialAll(ctx, dialer, wsBase, members, dialOpts{
		concurrency: cfg.DialConcurrency,
		// Some refusals are expected near the server's own fd limit; many
		// mean something else is wrong, and the numbers would be noise.
		maxFailed: target / 100,
		onOpen: func(m *member) {
			readers.Go(func() { m.idle(onClose) })
		},
		progress: func(open, failed int) {
			cfg.Log.Info("bench: opening sockets", "open", open, "failed", failed, "of", target)
		},
	})
	res.DialErrors, res.DialErrorKinds = dr.failed, dr.byKind
	res.DialSec = round(dr.elapsed.Seconds())
	res.DialsPerSec = round(float64(dr.open) / dr.elapsed.Seconds())
	mu.Lock()
	res.Errors = append(res.Errors, dr.samples...)
	mu.Unlock()
	finish := func() {
		closing.Store(true)
		closeSockets(members, &readers, 10*time.Second)
		readers.Wait()
	}
	if dialErr != nil {
		finish()
		return res, fmt.Errorf("open sockets: %w", dialErr)
	}
	cfg.Log.Info("bench: sockets open, holding", "open", dr.open, "failed", dr.failed, "dial_sec", res.DialSec, "hold", cfg.Hold)

	endWatch, err := watch.window(ctx)
	if err != nil {
		cfg.Log.Warn("bench: cannot read a server's /metrics", "err", err)
	}
	holdStart := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Hold):
	}
	res.HoldSec = round(time.Since(holdStart).Seconds())
	res.Servers = endWatch()
	res.IdleCPUCores = res.Servers[rssIdx].CPUCores
	if ctx.Err() != nil {
		finish()
		return res, fmt.Errorf("interrupted while holding the sockets: %w", ctx.Err())
	}

	after, settled, err := watch.settledRSS(ctx, rssIdx, settleGap, cfg.SettleWait, settleTol)
	open := dr.open - int(dropped.Load())
	finish()
	if err != nil {
		return res, fmt.Errorf("memory with the sockets open: %w", err)
	}
	res.RSSAfterMiB, res.RSSAfterSettled = mib(after.rssBytes), settled
	res.ConnsOpen, res.ConnsDropped = open, dr.open-open
	if open > 0 {
		res.RSSPerIdleConnKiB = round((after.rssBytes - before.rssBytes) / float64(open) / 1024)
	}
	if before.goInuseBytes > 0 && after.goInuseBytes > 0 {
		res.GoInuseBeforeMiB, res.GoInuseAfterMiB = mib(before.goInuseBytes), mib(after.goInuseBytes)
		if open > 0 {
			res.GoInusePerIdleConnKiB = round((after.goInuseBytes - before.goInuseBytes) / float64(open) / 1024)
		}
	}
	for _, s := range []struct {
		name string
		ok   bool
	}{{"before", res.RSSBeforeSettled}, {"after", res.RSSAfterSettled}} {
		if !s.ok {
			res.Errors = append(res.Errors, fmt.Sprintf("the server's memory %s the sockets did not settle within %s (samples %s apart differed by 1%% or more): rss_per_idle_conn_kib is rough", s.name, cfg.SettleWait, settleGap))
		}
	}
	return res, nil
}

// idle reads the socket until it closes, discarding what arrives: reading
// is what makes gorilla answer the server's pings, and a socket that does
// not is cut as dead.
func (m *member) idle(onClose func(error)) {
	for {
		if _, _, err := m.ws.NextReader(); err != nil {
			onClose(err)
			return
		}
	}
}

// closeKind names why a socket ended: its close code, or "abnormal" for a
// connection that ended without one.
func closeKind(err error) string {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return strconv.Itoa(ce.Code)
	case errors.Is(err, net.ErrClosed):
		return "closed_locally"
	}
	return "abnormal"
}
