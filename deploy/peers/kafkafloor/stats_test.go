package main

import (
	"math"
	"testing"
)

func TestQuantileIsNearestRank(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(100 - i) // 100 … 1, unsorted on purpose
	}
	f := figure(v)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", f.P50, 50}, {"p95", f.P95, 95}, {"p99", f.P99, 99}, {"p999", f.P999, 100}, {"max", f.Max, 100}, {"mean", f.Mean, 50.5}} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if f.N != 100 {
		t.Errorf("n = %d", f.N)
	}
	if figure(nil).N != 0 {
		t.Error("an empty run has no figures")
	}
}

func TestBinsCountEverySampleOnce(t *testing.T) {
	v := []float64{0.05, 0.1, 0.1001, 1, 1.0001, 3.2, 10, 10, 999}
	f := figure(v)
	var n uint64
	prev := 0.0
	for _, b := range f.Bins {
		n += b.N
		if b.LeMs <= prev && prev != 0 {
			t.Fatalf("bars not increasing: %v", f.Bins)
		}
		prev = b.LeMs
	}
	if n != uint64(len(v)) {
		t.Fatalf("bars hold %d of %d samples", n, len(v))
	}
	// each sample in the first bar whose edge holds it
	for _, x := range v {
		k := binOf(x)
		if x > binsFloorMs && (binEdge(k) < x*(1-1e-12) || (k > 0 && binEdge(k-1) >= x)) {
			t.Errorf("%v in bar %d (%v, %v]", x, k, binEdge(k-1), binEdge(k))
		}
	}
	if math.Abs(binEdge(4)-1) > 1e-9 {
		t.Errorf("four bars a decade: edge 4 = %v", binEdge(4))
	}
}
