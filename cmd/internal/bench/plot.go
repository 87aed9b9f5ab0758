package bench

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The picture's latency range: below a quarter millisecond is the loopback's
// floor, beyond ten seconds the run has failed anyway. Two buckets per
// doubling keep 31 bars, readable at a glance.
const (
	plotLoMS      = 0.25
	plotHiMS      = 10_000
	plotPerOctave = 2
)

// writeLatencyPNG draws the send → deliver latencies of res as a histogram
// on a logarithmic axis, with the percentiles of res marked, and writes it
// to path as PNG.
func writeLatencyPNG(path string, latencies []float64, res *Result) error {
	h := logHistogram(latencies, plotLoMS, plotHiMS, plotPerOctave)
	// Values outside the range are drawn in the edge bars (and said so on
	// the axis), so that every delivery is in the picture.
	counts := append([]int(nil), h.Counts...)
	counts[0] += h.Under
	counts[len(counts)-1] += h.Over

	p := plot.New()
	p.Title.Text = fmt.Sprintf("happychat bench: %d rooms × %d members, target %s sends/s, achieved %s deliveries/s",
		res.Rooms, res.Members, strconv.FormatFloat(res.TargetRate, 'f', -1, 64), strconv.FormatFloat(res.DeliveriesPerSec, 'f', 0, 64))
	p.X.Label.Text = "send → deliver latency (ms, log scale)"
	if h.Under > 0 || h.Over > 0 {
		p.X.Label.Text += fmt.Sprintf("; %d below %g ms in the first bar, %d above %g s in the last", h.Under, plotLoMS, h.Over, plotHiMS/1000.0)
	}
	p.Y.Label.Text = fmt.Sprintf("deliveries (of %d)", len(latencies))
	p.Y.Tick.Marker = countTicks{}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = msTicks{}
	p.X.Min, p.X.Max = h.Edges[0], h.Edges[len(h.Edges)-1]
	p.Add(plotter.NewGrid())

	bars := &plotter.Histogram{FillColor: color.RGBA{R: 90, G: 130, B: 200, A: 255}, LineStyle: plotter.DefaultLineStyle}
	bars.LineStyle.Width = vg.Points(0.5)
	ymax := 1.0
	for i, c := range counts {
		bars.Bins = append(bars.Bins, plotter.HistogramBin{Min: h.Edges[i], Max: h.Edges[i+1], Weight: float64(c)})
		ymax = max(ymax, float64(c))
	}
	p.Add(bars)
	// Headroom above the tallest bar keeps the legend clear of the bars and
	// of the markers, which stop short of it.
	p.Y.Min, p.Y.Max = 0, ymax*1.3
	p.Title.Padding = vg.Points(8)

	marks := []struct {
		name  string
		v     float64
		color color.RGBA
	}{
		{"p50", res.Latency.P50, color.RGBA{G: 150, A: 255}},
		{"p95", res.Latency.P95, color.RGBA{R: 230, G: 140, A: 255}},
		{"p99", res.Latency.P99, color.RGBA{R: 210, A: 255}},
	}
	p.Legend.Top = true
	for _, m := range marks {
		if res.Latency.Count == 0 {
			break
		}
		x := min(max(m.v, p.X.Min), p.X.Max) // drawn at the edge when outside
		line, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: ymax * 1.05}})
		if err != nil {
			return fmt.Errorf("percentile marker: %w", err)
		}
		line.Color = m.color
		line.Width = vg.Points(2)
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s %s ms", m.name, strconv.FormatFloat(m.v, 'f', -1, 64)), line)
	}

	wt, err := p.WriterTo(30*vg.Centimeter, 15*vg.Centimeter, "png")
	if err != nil {
		return fmt.Errorf("render latency histogram: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write latency histogram %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write latency histogram %s: %w", path, err)
	}
	return nil
}

// msTicks labels a millisecond axis at 1-2-5 steps, switching to seconds
// from one second on.
type msTicks struct{}

func (msTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for decade := 0.1; decade <= hi; decade *= 10 {
		for _, f := range []float64{1, 2, 5} {
			v := decade * f
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			label := strconv.FormatFloat(v, 'g', 3, 64)
			if v >= 1000 {
				label = strconv.FormatFloat(v/1000, 'g', 3, 64) + " s"
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	if len(ticks) == 0 || ticks[0].Value > lo*1.001 {
		ticks = append([]plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 3, 64)}}, ticks...)
	}
	return ticks
}

// countTicks labels a count axis with whole numbers at 1-2-5 steps, about
// five of them (gonum's default picks decimals for counts).
type countTicks struct{}

func (countTicks) Ticks(lo, hi float64) []plot.Tick {
	mag := math.Pow(10, math.Floor(math.Log10(max(hi-lo, 6)/6)))
	step := mag
	for _, f := range []float64{1, 2, 5, 10} {
		if step = f * mag; (hi-lo)/step <= 6 {
			break
		}
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', 0, 64)})
	}
	return ticks
}
