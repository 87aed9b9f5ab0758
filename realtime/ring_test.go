package realtime

import (
	"testing"
)

func seqs(fs []*frame) []int64 {
	out := make([]int64, len(fs))
	for i, f := range fs {
		out[i] = f.seq
	}
	return out
}

func fill(r *ring, from, to int64) {
	for s := from; s <= to; s++ {
		r.push(&frame{seq: s})
	}
}

func TestRingAfter(t *testing.T) {
	tests := []struct {
		name   string
		cap    int
		from   int64
		to     int64
		after  int64
		want   []int64
		wantOK bool
	}{
		{"empty ring covers nothing", 4, 1, 0, 0, nil, false},
		{"all of a partial ring", 4, 1, 3, 0, []int64{1, 2, 3}, true},
		{"tail of a partial ring", 4, 1, 3, 1, []int64{2, 3}, true},
		{"up to date", 4, 1, 3, 3, nil, true},
		{"ahead of the ring", 4, 1, 3, 7, nil, true},
		{"one ahead of the ring", 4, 1, 3, 4, nil, true},
		{"wrapped ring keeps the newest", 4, 1, 10, 6, []int64{7, 8, 9, 10}, true},
		{"wrapped ring, middle", 4, 1, 10, 8, []int64{9, 10}, true},
		{"older than the ring", 4, 1, 10, 5, nil, false},
		{"ring starting late", 4, 20, 22, 18, nil, false},
		{"ring starting late, exact", 4, 20, 22, 19, []int64{20, 21, 22}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.cap)
			fill(r, tt.from, tt.to)
			got, ok := r.after(tt.after)
			if ok != tt.wantOK || !equal(seqs(got), tt.want) {
				t.Fatalf("after(%d) = %v, %v; want %v, %v", tt.after, seqs(got), ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRingReset(t *testing.T) {
	r := newRing(3)
	fill(r, 1, 5)
	r.reset()
	if _, ok := r.after(4); ok {
		t.Fatal("a reset ring must cover nothing")
	}
	fill(r, 9, 9)
	if got, ok := r.after(8); !ok || !equal(seqs(got), []int64{9}) {
		t.Fatalf("after reset and push: %v %v", seqs(got), ok)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
