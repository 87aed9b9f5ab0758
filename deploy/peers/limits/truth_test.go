package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const scrapeBefore = `# HELP happychat_realtime_delivery_delay_seconds End-to-end delay.
# TYPE happychat_realtime_delivery_delay_seconds histogram
happychat_realtime_delivery_delay_seconds_bucket{le="0.001"} 10
happychat_realtime_delivery_delay_seconds_bucket{le="0.002"} 10
happychat_realtime_delivery_delay_seconds_bucket{le="0.01"} 20
happychat_realtime_delivery_delay_seconds_bucket{le="+Inf"} 20
happychat_realtime_delivery_delay_seconds_sum 0.05
happychat_realtime_delivery_delay_seconds_count 20
happychat_realtime_delivery_delay_seconds_other 7
happychat_command_commit_seconds_bucket{le="0.001"} 99
`

// After the run: 100 more observations, 50 in (1, 2] ms, 30 in (2, 10] ms,
// 20 past the last bound; the lines in another order than before.
const scrapeAfter = `happychat_realtime_delivery_delay_seconds_bucket{le="+Inf"} 120
happychat_realtime_delivery_delay_seconds_bucket{le="0.002"} 60
happychat_realtime_delivery_delay_seconds_bucket{le="0.001"} 10
happychat_realtime_delivery_delay_seconds_bucket{le="0.01"} 100
happychat_realtime_delivery_delay_seconds_sum 0.55
`

func TestServerTruth(t *testing.T) {
	before, ok, err := parsePromHist(strings.NewReader(scrapeBefore), deliveryDelayMetric)
	if err != nil || !ok {
		t.Fatalf("before: %v %v", ok, err)
	}
	after, ok, err := parsePromHist(strings.NewReader(scrapeAfter), deliveryDelayMetric)
	if err != nil || !ok {
		t.Fatalf("after: %v %v", ok, err)
	}
	d, err := after.delta(before)
	if err != nil {
		t.Fatal(err)
	}
	f := d.fig()
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("n", f.N, 100)
	near("mean", f.Mean, 5)               // 0.5 s over 100
	near("p50", f.P50, 2)                 // the 50th of 50 in (1, 2] ms
	near("p95", f.P95, 10)                // past the last finite bound: that bound
	near("p99", f.P99, 10)                //
	near("p25", d.quantile(.25)*1e3, 1.5) // halfway through (1, 2] ms
	near("p65", d.quantile(.65)*1e3, 6)   // 15 of 30 into (2, 10] ms

	if _, ok, _ := parsePromHist(strings.NewReader("x 1\n"), deliveryDelayMetric); ok {
		t.Error("found a histogram where there is none")
	}
	if _, _, err := parsePromHist(strings.NewReader(deliveryDelayMetric+`_bucket{le="x"} 1`), deliveryDelayMetric); err == nil {
		t.Error("a bad bound parsed")
	}
	other := promHist{le: []float64{0.001, math.Inf(1)}, count: []float64{1, 2}}
	if _, err := after.delta(other); err == nil {
		t.Error("delta across different buckets (a restarted server) gave no error")
	}
	if !math.IsNaN((promHist{}).quantile(.5)) {
		t.Error("quantile of nothing is not NaN")
	}
}

func TestGeneratorBound(t *testing.T) {
	lat := latFig{N: 100, P50: 10, P99: 40}
	for _, tc := range []struct {
		name string
		lag  latFig
		read float64
		want bool
	}{
		{"small lag, prompt reads", latFig{P50: 0.3, P99: 5}, 0.5, false},
		{"lag at p50", latFig{P50: 2, P99: 5}, 0, true},
		{"lag at p99 (a queue for connections)", latFig{P50: 0.3, P99: 20}, 0, true},
		{"late reads", latFig{P50: 0.3, P99: 5}, 2, true},
		{"reads a little early (bucket interpolation)", latFig{P50: 0.3, P99: 5}, -3, false},
	} {
		if got := generatorBound(lat, tc.lag, tc.read); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if generatorBound(latFig{}, latFig{P50: 5}, 0) {
		t.Error("bound without deliveries")
	}
}

// TestSentAtSplit checks that a delivery's sent_at splits its latency:
// write → sent_at and sent_at → receipt, and that a frame without one adds
// neither.
func TestSentAtSplit(t *testing.T) {
	withTag(t)
	e := newEngine(gorilla{}, 2, 1)
	e.led = newLedger(2, 1)
	L := e.led
	now := time.Now().UnixNano()
	ms := int64(time.Millisecond)
	for k := range int64(2) {
		L.intended[k], L.expect[k] = now-10*ms, 3
		e.inflight.Add(1)
		L.state[k].Store(stInflight)
		e.scheduled.Store(k + 1)
	}
	e.handle(e.clients[0], &event{kind: evDeliver, k: 0, ts: now - 10*ms, wts: now - 9*ms, sat: now - 6*ms, seq: 1}, now)
	e.handle(e.clients[1], &event{kind: evDeliver, k: 1, ts: now - 10*ms, wts: now - 9*ms, seq: 2}, now)
	r := e.account(2, schedStats{}, nil)
	if r.WriteToSentAt.N != 1 || r.SentAtToReceipt.N != 1 {
		t.Fatalf("split samples %d, %d; want 1, 1", r.WriteToSentAt.N, r.SentAtToReceipt.N)
	}
	if r.WriteToSentAt.P50 < 2.9 || r.WriteToSentAt.P50 > 3.1 || r.SentAtToReceipt.P50 < 5.9 || r.SentAtToReceipt.P50 > 6.1 {
		t.Errorf("write → sent_at %v ms (want 3), sent_at → receipt %v ms (want 6)", r.WriteToSentAt.P50, r.SentAtToReceipt.P50)
	}
	if parseSentAt([]byte("yesterday")) != 0 {
		t.Error("a bad sent_at parsed")
	}
}
