// Reading the processes' Prometheus metrics, for the scenarios' notes and
// checks.

package chaos

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// scrapeText reads a process's /metrics (on its internal listener).
func (s *system) scrapeText(ctx context.Context, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.procs[name].internalURL()+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return string(b), err
}

// scrape reads a process's /metrics, each metric summed over its series.
func (s *system) scrape(ctx context.Context, name string) (map[string]float64, error) {
	text, err := s.scrapeText(ctx, name)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, smp := range samples(text) {
		out[smp.name] += smp.value
	}
	return out, nil
}

// sample is one line of the Prometheus text format.
type sample struct {
	name, labels string
	value        float64
}

func samples(text string) []sample {
	var out []sample
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels := line[:i], ""
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name, labels = name[:j], name[j:]
		}
		out = append(out, sample{name, labels, v})
	}
	return out
}

// sumSeries sums the series of metric name whose labels contain label.
func sumSeries(text, name, label string) float64 {
	total := 0.0
	for _, smp := range samples(text) {
		if smp.name == name && strings.Contains(smp.labels, label) {
			total += smp.value
		}
	}
	return total
}
