package bench

import (
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteLatencyPNG(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name      string
		latencies []float64
	}{
		{"none", nil},
		{"spread", func() []float64 {
			v := make([]float64, 5000)
			for i := range v {
				v[i] = 2 + r.ExpFloat64()*20 // some beyond the range's ends too
			}
			return append(v, 0.01, 20_000)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{Rooms: 2, Members: 3, LoadResult: &LoadResult{TargetRate: 20, DeliveriesPerSec: 59.5}}
			res.Latency = percentiles(append([]float64(nil), tt.latencies...))
			path := filepath.Join(t.TempDir(), "lat.png")
			if err := writeLatencyPNG(path, tt.latencies, res); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
				t.Fatalf("image %v: too small to read", b)
			}
		})
	}
}

func TestMSTicks(t *testing.T) {
	ticks := msTicks{}.Ticks(plotLoMS, 11585)
	var labels []string
	for _, tk := range ticks {
		labels = append(labels, tk.Label)
	}
	want := []string{"0.25", "0.5", "1", "2", "5", "10", "20", "50", "100", "200", "500", "1 s", "2 s", "5 s", "10 s"}
	if len(labels) != len(want) {
		t.Fatalf("labels %q, want %q", labels, want)
	}
	for i := range want {
		if labels[i] != want[i] {
			t.Fatalf("labels %q, want %q", labels, want)
		}
	}
}

func TestCountTicks(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi float64
		want   []string
	}{
		{"empty plot", 0, 1.3, []string{"0", "1"}},
		{"hundreds", 0, 900, []string{"0", "200", "400", "600", "800"}},
		{"thousands", 0, 2925, []string{"0", "500", "1000", "1500", "2000", "2500"}},
		{"tens of thousands", 0, 52000, []string{"0", "10000", "20000", "30000", "40000", "50000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tk := range (countTicks{}).Ticks(tt.lo, tt.hi) {
				got = append(got, tk.Label)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
