package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"happychat/cmd/internal/config"
)

// ServerStats is what one server's /metrics said over a window of the run:
// the Go process collector's CPU time and resident memory.
type ServerStats struct {
	URL     string `json:"url"`
	Samples int    `json:"samples"`
	// WindowSec is the time between the first and the last sample;
	// CPUCores is the CPU time the process used in it divided by it.
	WindowSec   float64 `json:"window_sec"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	CPUCores    float64 `json:"cpu_cores"`
	RSSStartMiB float64 `json:"rss_start_mib"`
	RSSMaxMiB   float64 `json:"rss_max_mib"`
	RSSEndMiB   float64 `json:"rss_end_mib"`
	// DeliveryDelay is the realtime service's own event time → written on
	// the socket over the window, the ground truth of the generator's
	// sent_at → deliver; nil for a server without it (the command service).
	DeliveryDelay *DelayStats `json:"delivery_delay_ms,omitempty"`
	// ScrapeErrors counts the failed scrapes; Error is the last one.
	ScrapeErrors int    `json:"scrape_errors,omitzero"`
	Error        string `json:"error,omitempty"`
}

// procSample is one scrape of one server.
type procSample struct {
	at       time.Time
	cpuSec   float64
	rssBytes float64
	// goInuseBytes is the Go runtime's heap and stack spans in use
	// (go_memstats_heap_inuse_bytes + go_memstats_stack_inuse_bytes), 0
	// when not exposed. Unlike the RSS it does not include the heap the
	// collector lets grow before its next cycle, nor pages not yet
	// returned to the system.
	goInuseBytes float64
	// delay is the realtime service's delivery-delay histogram, empty when
	// the server has none.
	delay histSample
}

// parseProcessMetrics reads process_cpu_seconds_total,
// process_resident_memory_bytes and, when present, the Go runtime's in-use
// heap and stacks from a Prometheus text exposition.
func parseProcessMetrics(r io.Reader) (procSample, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return procSample{}, fmt.Errorf("parse metrics: %w", err)
	}
	value := func(name string) (float64, error) {
		mf := families[name]
		if mf == nil || len(mf.GetMetric()) == 0 {
			return 0, fmt.Errorf("%s not exposed (is the process collector registered?)", name)
		}
		// One process, one series; a counter or a gauge, or untyped when
		// the exposition has no TYPE line.
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), nil
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), nil
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), nil
		}
		return 0, fmt.Errorf("%s has no value", name)
	}
	var ps procSample
	if ps.cpuSec, err = value("process_cpu_seconds_total"); err != nil {
		return procSample{}, err
	}
	if ps.rssBytes, err = value("process_resident_memory_bytes"); err != nil {
		return procSample{}, err
	}
	heap, herr := value("go_memstats_heap_inuse_bytes")
	stack, serr := value("go_memstats_stack_inuse_bytes")
	if herr == nil && serr == nil {
		ps.goInuseBytes = heap + stack
	}
	if mf := families[deliveryDelayMetric]; mf != nil && len(mf.GetMetric()) > 0 && mf.GetMetric()[0].GetHistogram() != nil {
		ps.delay = histOf(mf.GetMetric()[0].GetHistogram())
	}
	return ps, nil
}

// windowStats summarizes one server's samples, oldest first.
func windowStats(url string, samples []procSample) ServerStats {
	st := ServerStats{URL: url, Samples: len(samples)}
	if len(samples) == 0 {
		return st
	}
	first, last := samples[0], samples[len(samples)-1]
	st.WindowSec = round(last.at.Sub(first.at).Seconds())
	st.CPUSeconds = round(last.cpuSec - first.cpuSec)
	if wall := last.at.Sub(first.at).Seconds(); wall > 0 {
		st.CPUCores = round((last.cpuSec - first.cpuSec) / wall)
	}
	maxRSS := 0.0
	for _, s := range samples {
		maxRSS = max(maxRSS, s.rssBytes)
	}
	st.RSSStartMiB, st.RSSMaxMiB, st.RSSEndMiB = mib(first.rssBytes), mib(maxRSS), mib(last.rssBytes)
	st.DeliveryDelay = delayStats(first.delay, last.delay)
	return st
}

func mib(b float64) float64 { return round(b / (1 << 20)) }

// serverWatch scrapes the servers' /metrics and keeps the samples, so that
// any window of the run can be summarized afterwards.
type serverWatch struct {
	urls   []string
	client *http.Client

	mu      sync.Mutex
	samples [][]procSample // by index in urls
	lastErr []string
	nErr    []int
}

func newServerWatch(urls []string) *serverWatch {
	return &serverWatch{
		urls: urls,
		// Short: a scrape that takes seconds means the server is
		// saturated, and a late sample would blur the window.
		client:  &http.Client{Timeout: 5 * time.Second},
		samples: make([][]procSample, len(urls)),
		lastErr: make([]string, len(urls)),
		nErr:    make([]int, len(urls)),
	}
}

// scrape reads server i once, records the sample, and returns it.
func (w *serverWatch) scrape(ctx context.Context, i int) (procSample, error) {
	s, err := w.fetch(ctx, w.urls[i])
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil { // not a scrape cut short by the window's end
			w.lastErr[i] = err.Error()
			w.nErr[i]++
		}
		return procSample{}, err
	}
	w.samples[i] = append(w.samples[i], s)
	return s, nil
}

func (w *serverWatch) fetch(ctx context.Context, base string) (procSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return procSample{}, fmt.Errorf("scrape %s: %w", base, err)
	}
	// The text format: promhttp would answer protobuf or OpenMetrics to
	// other Accept headers.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := w.client.Do(req)
	if err != nil {
		return procSample{}, fmt.Errorf("scrape %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return procSample{}, fmt.Errorf("scrape %s: status %d", base, resp.StatusCode)
	}
	ps, err := parseProcessMetrics(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return procSample{}, fmt.Errorf("scrape %s: %w", base, err)
	}
	ps.at = time.Now()
	return ps, nil
}

// scrapeAll scrapes every server once, concurrently, and returns the
// errors joined.
func (w *serverWatch) scrapeAll(ctx context.Context) error {
	errs := make([]error, len(w.urls))
	var wg sync.WaitGroup
	for i := range w.urls {
		wg.Go(func() { _, errs[i] = w.scrape(ctx, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// every scrapes all servers each interval until ctx ends.
func (w *serverWatch) every(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = w.scrapeAll(ctx) // recorded per server in lastErr
		}
	}
}

// window starts periodic scraping with a first sample now; the returned
// function takes a last sample, stops, and summarizes each server's samples
// taken in between. The error is the first sample's: scraping goes on
// regardless, and the stats say what failed.
func (w *serverWatch) window(ctx context.Context) (func() []ServerStats, error) {
	from := time.Now()
	firstErr := w.scrapeAll(ctx)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.every(ctx, time.Second)
	}()
	return func() []ServerStats {
		cancel()
		<-done
		_ = w.scrapeAll(context.WithoutCancel(ctx))
		return w.stats(from, time.Now())
	}, firstErr
}

// stats summarizes each server's samples taken in [from, to].
func (w *serverWatch) stats(from, to time.Time) []ServerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ServerStats, len(w.urls))
	for i, u := range w.urls {
		var in []procSample
		for _, s := range w.samples[i] {
			if !s.at.Before(from) && !s.at.After(to) {
				in = append(in, s)
			}
		}
		out[i] = windowStats(u, in)
		out[i].Error, out[i].ScrapeErrors = w.lastErr[i], w.nErr[i]
	}
	return out
}

// settledRSS samples server i every gap until two samples in a row differ
// by less than tol (relative), or until maxWait has passed; it returns the
// last sample and whether it settled. A server that has just accepted or
// dropped thousands of sockets frees and grows memory for a while (GC
// cycles, the runtime returning pages), and a single sample taken then
// would be noise.
func (w *serverWatch) settledRSS(ctx context.Context, i int, gap, maxWait time.Duration, tol float64) (procSample, bool, error) {
	var last procSample
	_, settled, err := settle(ctx, func(ctx context.Context) (float64, error) {
		s, err := w.scrape(ctx, i)
		if err == nil {
			last = s
		}
		return s.rssBytes, err
	}, gap, maxWait, tol)
	return last, settled, err
}

// settle calls sample every gap until two consecutive values differ by less
// than tol of the latter, or maxWait has passed. The wait is counted in
// samples (maxWait/gap of them after the first) rather than read off the
// clock, so a late timer on a busy machine costs time, not samples.
func settle(ctx context.Context, sample func(context.Context) (float64, error), gap, maxWait time.Duration, tol float64) (float64, bool, error) {
	left := max(int(maxWait/gap), 1)
	prev, err := sample(ctx)
	if err != nil {
		return 0, false, err
	}
	for {
		select {
		case <-ctx.Done():
			return prev, false, ctx.Err()
		case <-time.After(gap):
		}
		cur, err := sample(ctx)
		if err != nil {
			return prev, false, err
		}
		if cur > 0 && math.Abs(cur-prev)/cur < tol {
			return cur, true, nil
		}
		prev = cur
		if left--; left == 0 {
			return cur, false, nil
		}
	}
}

// metricsTargets is the default list of servers to scrape: the HTTP API
// and, when it is another server, the realtime one (ws:// → http://).
func metricsTargets(base, wsBase string) []string {
	targets := []string{base}
	if h := httpOf(wsBase); h != base {
		targets = append(targets, h)
	}
	return targets
}

// internalURL is where the server at base serves /metrics by default: its
// internal listener (config.DefaultInternalAddr: loopback, the public port
// + 1000). A base without a numeric port is returned as it is; servers
// whose internal listener is elsewhere are named with -metrics.
func internalURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	addr, err := config.DefaultInternalAddr(u.Host)
	if err != nil {
		return base
	}
	u.Host = addr
	return u.String()
}

// httpOf turns a ws(s):// base URL into the http(s):// one of the same
// server.
func httpOf(wsBase string) string {
	if rest, ok := strings.CutPrefix(wsBase, "ws"); ok {
		return "http" + rest
	}
	return wsBase
}

// sameServer reports whether two base URLs name the same host and port.
func sameServer(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && strings.EqualFold(ua.Host, ub.Host)
}
