package bench

import "math"

// histogram counts values in buckets whose edges grow geometrically:
// latencies span four or five orders of magnitude (a fraction of a
// millisecond on an idle loopback, seconds on a saturated server), and
// linear buckets would squeeze either end into one bar.
type histogram struct {
	// Edges has one more element than Counts: bucket i is
	// [Edges[i], Edges[i+1]).
	Edges  []float64
	Counts []int
	// Under and Over count the values below Edges[0] and at or above the
	// last edge; they are in no bucket.
	Under, Over int
}

// logHistogram buckets values from lo up to at least hi, perOctave buckets
// for each doubling (edges lo·2^(i/perOctave)). lo and hi must be positive
// with lo < hi, and perOctave at least 1.
func logHistogram(values []float64, lo, hi float64, perOctave int) histogram {
	n := int(math.Ceil(math.Log2(hi/lo)*float64(perOctave) - 1e-9))
	h := histogram{Edges: make([]float64, n+1), Counts: make([]int, n)}
	for i := range h.Edges {
		h.Edges[i] = lo * math.Exp2(float64(i)/float64(perOctave))
	}
	for _, v := range values {
		switch {
		case math.IsNaN(v) || v < h.Edges[0]:
			h.Under++
		case v >= h.Edges[n]:
			h.Over++
		default:
			// The logarithm finds the bucket; rounding can put a value that
			// sits exactly on an edge one bucket off, which the edges fix.
			i := min(n-1, max(0, int(math.Log2(v/lo)*float64(perOctave))))
			for i > 0 && v < h.Edges[i] {
				i--
			}
			for i < n-1 && v >= h.Edges[i+1] {
				i++
			}
			h.Counts[i]++
		}
	}
	return h
}
