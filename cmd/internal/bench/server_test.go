package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// exposition is a trimmed /metrics answer of the Go process collector.
const exposition = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 2.097152e+07
# HELP go_memstats_stack_inuse_bytes Number of bytes obtained from system for stack allocator.
# TYPE go_memstats_stack_inuse_bytes gauge
go_memstats_stack_inuse_bytes 1.048576e+06
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.34
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 5.24288e+07
# HELP happychat_realtime_connections_open Open sockets.
# TYPE happychat_realtime_connections_open gauge
happychat_realtime_connections_open{instance="a"} 3
`

func TestParseProcessMetrics(t *testing.T) {
	tests := []struct {
		name            string
		in              string
		cpu, rss, inuse float64
		wantErr         string
	}{
		{name: "go and process collectors", in: exposition, cpu: 12.34, rss: 52428800, inuse: 22020096},
		{name: "untyped", in: "process_cpu_seconds_total 1.5\nprocess_resident_memory_bytes 1024\n", cpu: 1.5, rss: 1024},
		{name: "no process collector", in: "go_goroutines 3\n", wantErr: "process_cpu_seconds_total not exposed"},
		{name: "no rss", in: "process_cpu_seconds_total 1\n", wantErr: "process_resident_memory_bytes not exposed"},
		{name: "not the text format", in: "<html>nope</html>", wantErr: "parse metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := parseProcessMetrics(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ps.cpuSec != tt.cpu || ps.rssBytes != tt.rss || ps.goInuseBytes != tt.inuse {
				t.Fatalf("cpu %v rss %v in use %v, want %v %v %v", ps.cpuSec, ps.rssBytes, ps.goInuseBytes, tt.cpu, tt.rss, tt.inuse)
			}
		})
	}
}

func TestWindowStats(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	const mb = 1 << 20
	tests := []struct {
		name    string
		samples []procSample
		want    ServerStats
	}{
		{"none", nil, ServerStats{URL: "u"}},
		{"one", []procSample{{at: at(0), cpuSec: 5, rssBytes: 10 * mb}},
			ServerStats{URL: "u", Samples: 1, RSSStartMiB: 10, RSSMaxMiB: 10, RSSEndMiB: 10}},
		{"busy", []procSample{{at: at(0), cpuSec: 10, rssBytes: 100 * mb}, {at: at(1), cpuSec: 11.5, rssBytes: 300 * mb}, {at: at(4), cpuSec: 16, rssBytes: 200 * mb}},
			ServerStats{URL: "u", Samples: 3, WindowSec: 4, CPUSeconds: 6, CPUCores: 1.5, RSSStartMiB: 100, RSSMaxMiB: 300, RSSEndMiB: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := windowStats("u", tt.samples); got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMetricsTargets(t *testing.T) {
	tests := []struct {
		name, base, ws string
		want           []string
	}{
		{"all in one", "http://127.0.0.1:8080", "ws://127.0.0.1:8080", []string{"http://127.0.0.1:8080"}},
		{"split", "http://127.0.0.1:8081", "ws://127.0.0.1:8085", []string{"http://127.0.0.1:8081", "http://127.0.0.1:8085"}},
		{"tls", "https://chat.example", "wss://rt.example", []string{"https://chat.example", "https://rt.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metricsTargets(tt.base, tt.ws); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInternalURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://127.0.0.1:8080":  "http://127.0.0.1:9080",
		"http://10.0.0.7:18485":  "http://127.0.0.1:19485",
		"https://chat.example":   "https://chat.example",
		"http://127.0.0.1:65000": "http://127.0.0.1:65000",
	} {
		if got := internalURL(base); got != want {
			t.Errorf("internalURL(%s) = %s, want %s", base, got, want)
		}
	}
}

func TestSettle(t *testing.T) {
	tests := []struct {
		name        string
		values      []float64
		want        float64
		wantSettled bool
		wantErr     bool
	}{
		{"flat at once", []float64{100, 100.5}, 100.5, true, false},
		{"falls then settles", []float64{200, 150, 120, 119.5}, 119.5, true, false},
		{"never settles", []float64{100, 200, 100, 200, 100, 200, 100, 200}, -1, false, false},
		{"scrape fails", nil, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			sample := func(context.Context) (float64, error) {
				if i >= len(tt.values) {
					if tt.values == nil {
						return 0, errors.New("down")
					}
					return tt.values[len(tt.values)-1], nil
				}
				i++
				return tt.values[i-1], nil
			}
			got, settled, err := settle(context.Background(), sample, time.Millisecond, 3*time.Millisecond, 0.01)
			if (err != nil) != tt.wantErr || settled != tt.wantSettled {
				t.Fatalf("settled %v err %v, want %v %v", settled, err, tt.wantSettled, tt.wantErr)
			}
			if tt.want >= 0 && got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServerWatchWindow(t *testing.T) {
	cpu := 0.0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		cpu += 0.25
		fmt.Fprintf(w, "process_cpu_seconds_total %g\nprocess_resident_memory_bytes %d\n", cpu, 64<<20)
	}))
	defer srv.Close()
	watch := newServerWatch([]string{srv.URL, "http://127.0.0.1:1"})
	end, err := watch.window(context.Background())
	if err == nil {
		t.Fatal("the unreachable server's scrape did not fail")
	}
	time.Sleep(1100 * time.Millisecond)
	stats := end()
	if len(stats) != 2 {
		t.Fatalf("%d stats", len(stats))
	}
	if s := stats[0]; s.Samples < 3 || s.RSSMaxMiB != 64 || s.CPUSeconds <= 0 || s.Error != "" {
		t.Errorf("reachable server: %+v", s)
	}
	if s := stats[1]; s.Samples != 0 || s.Error == "" {
		t.Errorf("unreachable server: %+v", s)
	}
}
