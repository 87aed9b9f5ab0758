package bench

import "testing"

func TestPercentiles(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want Percentiles
	}{
		{"empty", nil, Percentiles{}},
		{"one", []float64{7}, Percentiles{Count: 1, P50: 7, P95: 7, P99: 7, Max: 7}},
		{"hundred", func() []float64 {
			v := make([]float64, 100)
			for i := range v {
				v[i] = float64(100 - i) // unsorted on purpose
			}
			return v
		}(), Percentiles{Count: 100, P50: 50, P95: 95, P99: 99, Max: 100}},
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
	if c.Rooms != 5 || c.Members != 10 || c.Rate != 50 || c.Duration == 0 || c.Drain == 0 || c.BodyBytes != 64 || c.Log == nil {
		t.Fatalf("defaults: %+v", c)
	}
}
