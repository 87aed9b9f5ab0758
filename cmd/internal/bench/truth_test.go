package bench

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// delayExposition is a realtime server's /metrics with the process
// collector and the delivery-delay histogram, its counts given.
func delayExposition(c1, c2, c10, inf int, sum float64) string {
	return exposition + fmt.Sprintf(`# HELP happychat_realtime_delivery_delay_seconds End-to-end delay.
# TYPE happychat_realtime_delivery_delay_seconds histogram
happychat_realtime_delivery_delay_seconds_bucket{le="0.001"} %d
happychat_realtime_delivery_delay_seconds_bucket{le="0.002"} %d
happychat_realtime_delivery_delay_seconds_bucket{le="0.01"} %d
happychat_realtime_delivery_delay_seconds_bucket{le="+Inf"} %d
happychat_realtime_delivery_delay_seconds_sum %g
happychat_realtime_delivery_delay_seconds_count %d
`, c1, c2, c10, inf, sum, inf)
}

func TestDeliveryDelayTruth(t *testing.T) {
	first, err := parseProcessMetrics(strings.NewReader(delayExposition(10, 10, 20, 20, 0.05)))
	if err != nil {
		t.Fatal(err)
	}
	// Over the run: 100 deliveries, 50 in (1, 2] ms, 30 in (2, 10] ms, 20
	// past the last bound, 0.5 s in all.
	last, err := parseProcessMetrics(strings.NewReader(delayExposition(10, 60, 100, 120, 0.55)))
	if err != nil {
		t.Fatal(err)
	}
	st := windowStats("http://x", []procSample{first, last})
	d := st.DeliveryDelay
	if d == nil {
		t.Fatal("no delivery delay")
	}
	want := DelayStats{Count: 100, P50: 2, P95: 10, P99: 10, Mean: 5}
	if *d != want {
		t.Errorf("delay %+v, want %+v", *d, want)
	}
	delta, _ := last.delay.delta(first.delay)
	for _, tc := range []struct{ p, want float64 }{{.25, 1.5}, {.65, 6}} {
		if got := delta.quantile(tc.p) * 1e3; math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("p%g = %v ms, want %v (interpolated in its bucket)", tc.p*100, got, tc.want)
		}
	}

	// The generator read its deliveries 1.5 ms after the server wrote them.
	l := &LoadResult{SentAtToDeliver: Percentiles{Count: 100, P50: 3, Mean: 6.5}}
	if rd, ok := readDelay(l, []ServerStats{{URL: "command"}, st}); !ok || rd != 1.5 {
		t.Errorf("read delay %v, %v; want 1.5", rd, ok)
	}
	if _, ok := readDelay(&LoadResult{}, []ServerStats{st}); ok {
		t.Error("read delay without any sent_at")
	}

	// A server without the histogram (the command service), or one that
	// restarted with other buckets, has no figure rather than a wrong one.
	plain, err := parseProcessMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if s := windowStats("http://cmd", []procSample{plain, plain}); s.DeliveryDelay != nil {
		t.Errorf("delay from a server without the histogram: %+v", *s.DeliveryDelay)
	}
	if s := windowStats("http://x", []procSample{plain, last}); s.DeliveryDelay != nil {
		t.Errorf("delay across different buckets: %+v", *s.DeliveryDelay)
	}
	if idle := windowStats("http://x", []procSample{last, last}); idle.DeliveryDelay != nil {
		t.Errorf("delay over no deliveries: %+v", *idle.DeliveryDelay)
	}
}

func TestGeneratorBound(t *testing.T) {
	lat := Percentiles{Count: 100, P50: 10, P99: 40}
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name string
		lag  Percentiles
		read *float64
		want bool
	}{
		{"small lag, prompt reads", Percentiles{P50: 0.3, P99: 5}, f(0.5), false},
		{"no server histogram", Percentiles{P50: 0.3, P99: 5}, nil, false},
		{"lag at p50", Percentiles{P50: 2, P99: 5}, nil, true},
		{"lag at p99", Percentiles{P50: 0.3, P99: 20}, nil, true},
		{"late reads", Percentiles{P50: 0.3, P99: 5}, f(2), true},
	} {
		l := &LoadResult{Latency: lat, IssueLag: tc.lag, ReadDelayMean: tc.read}
		if got := generatorBound(l); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if generatorBound(&LoadResult{IssueLag: Percentiles{P50: 5}}) || generatorBound(nil) {
		t.Error("bound without deliveries")
	}
}
