package bench

import (
	"math"

	dto "github.com/prometheus/client_model/go"
)

// The ground truth a run is checked against, independent of this
// generator's clocks and goroutines: the realtime service's own histogram
// of event time (the frame's sent_at) → written on the socket, observed
// after the write returned. Its difference from this generator's
// sent_at → deliver is the time a delivery waited in this process's
// sockets and readers (docs/benchmarks.md, "Which generator is right").
const deliveryDelayMetric = "happychat_realtime_delivery_delay_seconds"

// histSample is one scrape of a histogram: cumulative counts by upper bound
// (the last +Inf) and the sum of the observations.
type histSample struct {
	le, count []float64
	sum       float64
}

func histOf(h *dto.Histogram) histSample {
	var s histSample
	for _, b := range h.GetBucket() {
		s.le = append(s.le, b.GetUpperBound())
		s.count = append(s.count, float64(b.GetCumulativeCount()))
	}
	if n := len(s.le); n == 0 || !math.IsInf(s.le[n-1], 1) {
		s.le = append(s.le, math.Inf(1))
		s.count = append(s.count, float64(h.GetSampleCount()))
	}
	s.sum = h.GetSampleSum()
	return s
}

// delta is what was observed between two scrapes (after - before); false
// when the buckets differ (the server restarted or changed).
func (h histSample) delta(before histSample) (histSample, bool) {
	if len(h.le) == 0 || len(h.le) != len(before.le) {
		return histSample{}, false
	}
	d := histSample{le: h.le, count: make([]float64, len(h.le)), sum: h.sum - before.sum}
	for i := range h.le {
		if h.le[i] != before.le[i] {
			return histSample{}, false
		}
		d.count[i] = h.count[i] - before.count[i]
	}
	return d, true
}

// quantile estimates the p-quantile (0 < p < 1) by linear interpolation
// within the bucket that holds it, as Prometheus' histogram_quantile does
// (the first bucket from 0; past the last finite bound, that bound).
func (h histSample) quantile(p float64) float64 {
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

// DelayStats is the server's delivery delay over a run's window, ms.
// Quantiles are interpolated within the histogram's buckets (0.5 ms wide
// at the bottom, 25 ms at 100 ms).
type DelayStats struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Mean  float64 `json:"mean"`
}

// delayStats summarizes the deliveries between two scrapes; nil when there
// were none or the histograms cannot be compared.
func delayStats(first, last histSample) *DelayStats {
	d, ok := last.delta(first)
	if !ok || d.count[len(d.count)-1] <= 0 {
		return nil
	}
	n := d.count[len(d.count)-1]
	return &DelayStats{Count: int64(n), P50: round(d.quantile(.5) * 1e3), P95: round(d.quantile(.95) * 1e3),
		P99: round(d.quantile(.99) * 1e3), Mean: round(d.sum / n * 1e3)}
}

// readDelay is this generator's mean sent_at → deliver minus the server's
// mean sent_at → written (the first server that has the histogram): how
// late, on average, this process read what the server had written. Means,
// because both are exact (the histogram's sum), where a quantile of the
// histogram is interpolated in a bucket up to 250 ms wide. Both sides read
// the same millisecond sent_at, so its truncation cancels. ok is false
// without both.
func readDelay(l *LoadResult, servers []ServerStats) (float64, bool) {
	if l == nil || l.SentAtToDeliver.Count == 0 {
		return 0, false
	}
	for _, s := range servers {
		if s.DeliveryDelay != nil {
			return round(l.SentAtToDeliver.Mean - s.DeliveryDelay.Mean), true
		}
	}
	return 0, false
}

// generatorBound says whether this process's own delay is a large share of
// what it measured, by the rule deploy/peers/limits applies: the issue lag
// (slot → write) over a tenth of the latency at p50 or over a quarter of it
// at p99, or a read delay over a tenth of the latency's p50. Its figures
// then describe the generator as much as the server.
func generatorBound(l *LoadResult) bool {
	if l == nil || l.Latency.Count == 0 {
		return false
	}
	read := 0.0
	if l.ReadDelayMean != nil {
		read = *l.ReadDelayMean
	}
	return l.IssueLag.P50 > 0.1*l.Latency.P50 || l.IssueLag.P99 > 0.25*l.Latency.P99 || read > 0.1*l.Latency.P50
}
