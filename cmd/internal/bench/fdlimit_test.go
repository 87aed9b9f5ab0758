package bench

import (
	"math"
	"testing"
)

func TestClampConns(t *testing.T) {
	tests := []struct {
		name      string
		requested int
		limit     uint64
		margin    int
		want      int
	}{
		{"fits", 2000, 20000, 100, 2000},
		{"exactly fits", 19900, 20000, 100, 19900},
		{"this machine's 20000", 20000, 20000, 100, 19900},
		{"far over", 50000, 1024, 100, 924},
		{"limit below the margin", 10, 64, 100, 0},
		{"unlimited", 1_000_000, math.MaxUint64, 100, 1_000_000},
		{"nothing requested", 0, 20000, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clampConns(tt.requested, tt.limit, tt.margin); got != tt.want {
				t.Fatalf("clampConns(%d, %d, %d) = %d, want %d", tt.requested, tt.limit, tt.margin, got, tt.want)
			}
		})
	}
}

func TestRaiseFDLimit(t *testing.T) {
	lim, err := raiseFDLimit()
	if err != nil {
		t.Fatal(err)
	}
	if lim < 64 {
		t.Fatalf("RLIMIT_NOFILE %d: implausible", lim)
	}
}
