package bench

import (
	"math"
	"slices"
	"testing"
)

func TestLogHistogram(t *testing.T) {
	tests := []struct {
		name        string
		values      []float64
		lo, hi      float64
		perOctave   int
		wantEdges   []float64
		wantCounts  []int
		under, over int
	}{
		{
			name: "octaves", values: []float64{1, 1.5, 2, 3.99, 4, 7.9},
			lo: 1, hi: 8, perOctave: 1,
			wantEdges: []float64{1, 2, 4, 8}, wantCounts: []int{2, 2, 2},
		},
		{
			name: "edges belong to the bucket above", values: []float64{0.25, 0.5, 1, 2, 1024},
			lo: 0.25, hi: 2048, perOctave: 1,
			wantCounts: []int{1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1},
		},
		{
			name: "under and over", values: []float64{0, 0.1, 0.2499, 8, 100, math.NaN(), 5},
			lo: 0.25, hi: 8, perOctave: 1,
			wantEdges: []float64{0.25, 0.5, 1, 2, 4, 8}, wantCounts: []int{0, 0, 0, 0, 1}, under: 4, over: 2,
		},
		{
			name: "hi between edges rounds up", values: nil,
			lo: 1, hi: 5, perOctave: 1,
			wantEdges: []float64{1, 2, 4, 8}, wantCounts: []int{0, 0, 0},
		},
		{
			name: "two per octave", values: []float64{1, 1.41, 1.42, 2, 2.83, 3.9},
			lo: 1, hi: 4, perOctave: 2,
			wantCounts: []int{2, 1, 1, 2},
		},
		{
			name: "the bench's range", values: []float64{0.3, 12, 9999},
			lo: plotLoMS, hi: plotHiMS, perOctave: plotPerOctave,
			wantCounts: func() []int {
				c := make([]int, 31)
				c[0], c[11], c[30] = 1, 1, 1
				return c
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := logHistogram(tt.values, tt.lo, tt.hi, tt.perOctave)
			if tt.wantEdges != nil && !slices.EqualFunc(h.Edges, tt.wantEdges, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
				t.Errorf("edges %v, want %v", h.Edges, tt.wantEdges)
			}
			if len(h.Edges) != len(h.Counts)+1 {
				t.Errorf("%d edges for %d buckets", len(h.Edges), len(h.Counts))
			}
			if !slices.Equal(h.Counts, tt.wantCounts) {
				t.Errorf("counts %v, want %v", h.Counts, tt.wantCounts)
			}
			if h.Under != tt.under || h.Over != tt.over {
				t.Errorf("under %d over %d, want %d %d", h.Under, h.Over, tt.under, tt.over)
			}
			if h.Edges[len(h.Edges)-1] < tt.hi {
				t.Errorf("last edge %v below hi %v", h.Edges[len(h.Edges)-1], tt.hi)
			}
		})
	}
}
