package bench

import (
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", []float64{7}, Percentiles{Count: 1, P50: 7, P90: 7, P95: 7, P99: 7, P999: 7, Max: 7, Mean: 7}},
		{"hundred", func() []float64 {
			v := make([]float64, 100)
			for i := range v {
				v[i] = float64(100 - i) // unsorted on purpose
			}
			return v
		}(), Percentiles{Count: 100, P50: 50, P90: 90, P95: 95, P99: 99, P999: 100, Max: 100, Mean: 50.5}},
		{"two thousand", func() []float64 {
			v := make([]float64, 2000)
			for i := range v {
				v[i] = float64((i*7919)%2000 + 1) // 1..2000, shuffled
			}
			return v
		}(), Percentiles{Count: 2000, P50: 1000, P90: 1800, P95: 1900, P99: 1980, P999: 1998, Max: 2000, Mean: 1000.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentiles(tt.in); got != tt.want {
				t.Fatalf("got %+v want %+v", got, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.setDefaults()
	if c.Rooms != 5 || c.Members != 10 || c.Rate != 50 || c.Shape != ShapeRandom || c.Duration == 0 || c.Drain == 0 || c.BodyBytes != 64 || c.Log == nil {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestIdleConfigDefaults(t *testing.T) {
	tests := []struct {
		name                string
		in                  Config
		conns, members, hol int
	}{
		{"bare", Config{Mode: ModeIdle}, 20000, 20, 60},
		{"rooms given", Config{Mode: ModeIdle, Rooms: 3, Members: 7}, 21, 7, 60},
		{"conns given", Config{Mode: ModeIdle, Conns: 60, Hold: 2 * time.Second}, 60, 20, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.in
			c.setDefaults()
			if c.Conns != tt.conns || c.Members != tt.members || c.Hold != time.Duration(tt.hol)*time.Second {
				t.Fatalf("conns %d members %d hold %v", c.Conns, c.Members, c.Hold)
			}
		})
	}
}

// TestResultJSON: each mode's report has its own fields only, flat.
func TestResultJSON(t *testing.T) {
	tests := []struct {
		name          string
		res           Result
		want, wantNot []string
	}{
		{
			name:    "load",
			res:     Result{Mode: ModeLoad, LoadResult: &LoadResult{SendErrors: map[string]int64{}}},
			want:    []string{`"mode":"load"`, `"lost":0`, `"send_to_deliver_ms":{`, `"servers":`},
			wantNot: []string{"conns_open", "rss_per_idle_conn_kib"},
		},
		{
			name:    "idle",
			res:     Result{Mode: ModeIdle, IdleResult: &IdleResult{ConnsOpen: 60, RSSPerIdleConnKiB: 12.5}},
			want:    []string{`"mode":"idle"`, `"conns_open":60`, `"rss_per_idle_conn_kib":12.5`, `"dial_errors":0`},
			wantNot: []string{"lost", "send_to_deliver_ms", "target_sends_per_sec"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := schemas.Marshal(tt.res)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %s", b, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(string(b), w) {
					t.Errorf("%s has %s", b, w)
				}
			}
		})
	}
}
