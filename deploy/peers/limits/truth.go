package main

// The ground truth a run is checked against, independent of this
// generator's clocks and goroutines: happychat's own histogram of event
// time → written on the socket (happychat_realtime_delivery_delay_seconds,
// observed after the write syscall returned), scraped from the server's
// internal listener (-metrics) before and after the load. Its difference
// from this generator's sent_at → receipt is the time a delivery waited in
// this process's sockets and read loops; the issue lag is the time a send
// waited in its scheduler and writers. A generator that saturates a core
// shows up in both.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// deliveryDelayMetric is the realtime service's histogram of live events.
const deliveryDelayMetric = "happychat_realtime_delivery_delay_seconds"

// promHist is one Prometheus histogram as scraped: cumulative counts by
// upper bound (the last one +Inf) and the sum of the observations.
type promHist struct {
	le    []float64
	count []float64
	sum   float64
}

// parsePromHist reads histogram name from Prometheus' text format; ok is
// false when it is not there.
func parsePromHist(r io.Reader, name string) (h promHist, ok bool, err error) {
	type bucket struct{ le, c float64 }
	var bs []bucket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, name)
		if !found {
			continue
		}
		switch {
		case strings.HasPrefix(rest, `_bucket{le="`):
			rest = rest[len(`_bucket{le="`):]
			q := strings.IndexByte(rest, '"')
			sp := strings.LastIndexByte(rest, ' ')
			if q < 0 || sp < q {
				return h, false, fmt.Errorf("bad bucket line %q", line)
			}
			le, err1 := strconv.ParseFloat(rest[:q], 64) // "+Inf" parses to +Inf
			c, err2 := strconv.ParseFloat(rest[sp+1:], 64)
			if err1 != nil || err2 != nil {
				return h, false, fmt.Errorf("bad bucket line %q", line)
			}
			bs = append(bs, bucket{le, c})
		case strings.HasPrefix(rest, "_sum "):
			if h.sum, err = strconv.ParseFloat(rest[len("_sum "):], 64); err != nil {
				return h, false, fmt.Errorf("bad sum line %q", line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return h, false, err
	}
	if len(bs) == 0 {
		return h, false, nil
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	for _, b := range bs {
		h.le = append(h.le, b.le)
		h.count = append(h.count, b.c)
	}
	return h, true, nil
}

// delta is what was observed between two scrapes of the same histogram
// (after - before); the buckets must be the same.
func (h promHist) delta(before promHist) (promHist, error) {
	if len(before.le) == 0 {
		return h, nil
	}
	if len(before.le) != len(h.le) {
		return promHist{}, fmt.Errorf("the histogram's buckets changed between scrapes (%d, then %d): the server restarted?", len(before.le), len(h.le))
	}
	d := promHist{le: h.le, count: make([]float64, len(h.le)), sum: h.sum - before.sum}
	for i := range h.le {
		if h.le[i] != before.le[i] {
			return promHist{}, fmt.Errorf("the histogram's buckets changed between scrapes")
		}
		d.count[i] = h.count[i] - before.count[i]
	}
	return d, nil
}

// quantile estimates the p-quantile (0 < p < 1) in the histogram's unit
// by linear interpolation within the bucket that holds it, as Prometheus'
// histogram_quantile does (the first bucket from 0; one past the last
// finite bound reports that bound).
func (h promHist) quantile(p float64) float64 {
	if len(h.count) == 0 || h.count[len(h.count)-1] <= 0 {
		return math.NaN()
	}
	rank := p * h.count[len(h.count)-1]
	lo, below := 0.0, 0.0
	for i, c := range h.count {
		if c >= rank {
			if math.IsInf(h.le[i], 1) {
				return lo
			}
			if c == below {
				return h.le[i]
			}
			return lo + (h.le[i]-lo)*(rank-below)/(c-below)
		}
		lo, below = h.le[i], c
	}
	return lo
}

// serverFig is the ground truth's figures, in ms.
type serverFig struct {
	N    float64 `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Mean float64 `json:"mean_ms"`
}

func (h promHist) fig() *serverFig {
	n := h.count[len(h.count)-1]
	if n <= 0 {
		return nil
	}
	return &serverFig{N: n, P50: h.quantile(.5) * 1e3, P95: h.quantile(.95) * 1e3, P99: h.quantile(.99) * 1e3, Mean: h.sum / n * 1e3}
}

func (f *serverFig) String() string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("p50 %.3f  p95 %.3f  p99 %.3f  mean %.3f  (n=%.0f)", f.P50, f.P95, f.P99, f.Mean, f.N)
}

// scrapeDelay reads the delivery-delay histogram from -metrics (the server's
// internal listener, e.g. http://127.0.0.1:9080).
func scrapeDelay(base string) (promHist, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(strings.TrimRight(base, "/") + "/metrics")
	if err != nil {
		return promHist{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return promHist{}, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	h, ok, err := parsePromHist(resp.Body, deliveryDelayMetric)
	if err == nil && !ok {
		err = fmt.Errorf("no %s in %s/metrics", deliveryDelayMetric, base)
	}
	return h, err
}

// generatorBound says whether this process's own delay is a large share of
// what it measured: the issue lag (slot → write) over a tenth of the
// latency at p50, or over a quarter of it at p99, or deliveries read later
// than the server wrote them by more than a tenth of the latency's p50 (on
// average). Its figures then
// describe the generator as much as the server (too few -http-conns or
// -ws-writers, or a starved core), and the report says so.
func generatorBound(lat, lag latFig, readDelay float64) bool {
	if lat.N == 0 {
		return false
	}
	return lag.P50 > 0.1*lat.P50 || lag.P99 > 0.25*lat.P99 || readDelay > 0.1*lat.P50
}

// scrapeTruth scrapes the ground truth when -metrics is set.
func scrapeTruth() (promHist, error) {
	if *metrics == "" {
		return promHist{}, nil
	}
	return scrapeDelay(*metrics)
}

// judge adds the ground truth (the server's histogram between the scrapes
// before and after the load) and whether the run measured its generator.
func (r *fanoutResult) judge(before, after promHist, err error) {
	read := math.NaN()
	switch {
	case *metrics == "":
	case err != nil:
		r.ServerErr = err.Error()
	default:
		d, derr := after.delta(before)
		if derr != nil {
			r.ServerErr = derr.Error()
			break
		}
		r.Server = d.fig()
		if r.Server != nil && r.SentAtToReceipt.N > 0 {
			// Means: both are exact (the sums), where a quantile of the
			// server's histogram is interpolated in a bucket up to 250 ms
			// wide. Both sides read the same millisecond sent_at, so its
			// truncation cancels.
			read = r.SentAtToReceipt.Mean - r.Server.Mean
			r.ReadDelayMean = &read
		}
	}
	if math.IsNaN(read) {
		read = 0
	}
	r.GeneratorBound = generatorBound(r.Latency, r.IssueLag, read)
}
