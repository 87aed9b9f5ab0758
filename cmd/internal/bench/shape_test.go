package bench

import (
	"math"
	"testing"
)

func TestPickerRoundRobin(t *testing.T) {
	p, err := newPicker(ShapeRoundRobin, 3, 2, DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}, {0, 0}}
	for k, w := range want {
		if r, s := p.pick(int64(k)); r != w[0] || s != w[1] {
			t.Fatalf("slot %d: room %d member %d, want %v", k, r, s, w)
		}
	}
}

// TestPickerRandomIsDeterministic: the same seed offers the same senders,
// another seed others.
func TestPickerRandomIsDeterministic(t *testing.T) {
	seq := func(seed uint64) [][2]int {
		p, err := newPicker(ShapeRandom, 50, 20, seed)
		if err != nil {
			t.Fatal(err)
		}
		out := make([][2]int, 1000)
		for k := range out {
			out[k][0], out[k][1] = p.pick(int64(k))
		}
		return out
	}
	a, b, c := seq(7), seq(7), seq(8)
	same := 0
	for k := range a {
		if a[k] != b[k] {
			t.Fatalf("slot %d: %v then %v with the same seed", k, a[k], b[k])
		}
		if a[k] == c[k] {
			same++
		}
	}
	// Two independent uniform sequences over 1,000 pairs agree about once.
	if same > 20 {
		t.Fatalf("seeds 7 and 8 agree on %d of 1000 slots", same)
	}
}

// TestPickerRandomIsUniform: over 200,000 slots every room and every
// member index gets its share (a chi-square far below what a skewed or
// room-by-room picker gives), and consecutive slots are not in the same
// room more often than chance (1 in 50).
func TestPickerRandomIsUniform(t *testing.T) {
	const rooms, members, n = 50, 20, 200_000
	p, err := newPicker(ShapeRandom, rooms, members, DefaultSeed)
	if err != nil {
		t.Fatal(err)
	}
	byRoom := make([]float64, rooms)
	bySlot := make([]float64, members)
	sameRoom, prev := 0, -1
	for k := range int64(n) {
		r, s := p.pick(k)
		if r < 0 || r >= rooms || s < 0 || s >= members {
			t.Fatalf("slot %d: room %d member %d out of range", k, r, s)
		}
		byRoom[r]++
		bySlot[s]++
		if r == prev {
			sameRoom++
		}
		prev = r
	}
	chi2 := func(counts []float64) float64 {
		exp := float64(n) / float64(len(counts))
		x := 0.0
		for _, c := range counts {
			x += (c - exp) * (c - exp) / exp
		}
		return x
	}
	// 99.9th percentile of chi-square: about 86 with 49 degrees of
	// freedom, 44 with 19.
	if x := chi2(byRoom); x > 86 {
		t.Errorf("rooms: chi-square %.1f over 49 degrees of freedom", x)
	}
	if x := chi2(bySlot); x > 44 {
		t.Errorf("members: chi-square %.1f over 19 degrees of freedom", x)
	}
	if want := float64(n) / rooms; math.Abs(float64(sameRoom)-want) > 5*math.Sqrt(want) {
		t.Errorf("consecutive slots in the same room %d times, want about %.0f", sameRoom, want)
	}
}

func TestPickerRefusesAnUnknownShape(t *testing.T) {
	if _, err := newPicker("zigzag", 2, 2, 1); err == nil {
		t.Fatal("no error")
	}
	if _, err := newPicker(ShapeRandom, 0, 2, 1); err == nil {
		t.Fatal("no error for 0 rooms")
	}
}
