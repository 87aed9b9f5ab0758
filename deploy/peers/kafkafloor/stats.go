package main

import (
	"math"
	"slices"
)

// latFig is a latency distribution in the shape of peer-limits' JSON
// (`latency`), so that deploy/peers/histograms.py draws it beside the
// fan-out runs. The two types are written twice on purpose: each peer is
// a module of its own, and they share no code.
type latFig struct {
	N    uint64    `json:"n"`
	P50  float64   `json:"p50_ms"`
	P95  float64   `json:"p95_ms"`
	P99  float64   `json:"p99_ms"`
	P999 float64   `json:"p999_ms"`
	Max  float64   `json:"max_ms"`
	Mean float64   `json:"mean_ms"`
	Bins []histBin `json:"bins,omitempty"`
}

// histBin is a bar: the values above the previous bar's LeMs and at most
// this one's.
type histBin struct {
	LeMs float64 `json:"le_ms"`
	N    uint64  `json:"n"`
}

// Four bars per decade from 0.1 ms, as peer-limits draws them.
const (
	binsPerDecade = 4
	binsFloorMs   = 0.1
)

func binEdge(k int) float64 { return binsFloorMs * math.Pow(10, float64(k)/binsPerDecade) }

// binOf is the bar a value in ms falls into.
func binOf(ms float64) int {
	if ms <= binsFloorMs {
		return 0
	}
	k := int(math.Ceil(binsPerDecade * math.Log10(ms/binsFloorMs)))
	for k > 0 && binEdge(k-1) >= ms { // rounding at an edge
		k--
	}
	return k
}

// quantile is the nearest-rank quantile q of sorted values: the smallest
// value with at least q of all at or below it. The probe keeps every
// sample (a run is tens of thousands), so its figures are exact.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// figure summarises samples (ms); it sorts them in place.
func figure(ms []float64) latFig {
	if len(ms) == 0 {
		return latFig{}
	}
	slices.Sort(ms)
	var sum float64
	var bars []uint64
	for _, v := range ms {
		sum += v
		k := binOf(v)
		for len(bars) <= k {
			bars = append(bars, 0)
		}
		bars[k]++
	}
	bins := make([]histBin, len(bars))
	for k, n := range bars {
		bins[k] = histBin{LeMs: math.Round(binEdge(k)*1000) / 1000, N: n}
	}
	return latFig{
		N: uint64(len(ms)), P50: quantile(ms, 0.50), P95: quantile(ms, 0.95), P99: quantile(ms, 0.99),
		P999: quantile(ms, 0.999), Max: ms[len(ms)-1], Mean: sum / float64(len(ms)), Bins: bins,
	}
}
