package chaos

import (
	"strings"
	"testing"
	"time"
)

func TestCheckCold(t *testing.T) {
	// Two partitions: snapshots at 900 and 400 of 1 000 and 500 records at
	// the start, 1 100 and 520 once the cold instance was ready: it may
	// have replayed at most 200 + 120 = 320 records.
	snaps := map[int32]int64{0: 900, 1: 400}
	before := map[int32]int64{0: 1000, 1: 500}
	after := map[int32]int64{0: 1100, 1: 520}
	sound := coldWatch{start: t0, caughtUp: at(400), ready: at(900), owned: at(800), replayed: 320, ownedParts: 1, polls: 20}
	tests := []struct {
		name   string
		change func(w *coldWatch)
		snaps  map[int32]int64
		want   []string // substrings of the findings, in order
	}{
		{name: "caught up, then ready and owning, replayed what the snapshots left", change: func(*coldWatch) {}},
		{name: "ready while catching up", change: func(w *coldWatch) { w.readyEarly = 2 }, want: []string{"/readyz 200 before"}},
		{name: "owning while catching up", change: func(w *coldWatch) { w.ownedEarly = 1 }, want: []string{"owned partitions before"}},
		{name: "given no partition", change: func(w *coldWatch) { w.owned = time.Time{} }, want: []string{"given no partition"}},
		{name: "one record more than the snapshots left", change: func(w *coldWatch) { w.replayed = 321 }, want: []string{"replayed 321 records, more than the 320"}},
		{
			name:   "no snapshot at all: the whole log may be replayed",
			change: func(w *coldWatch) { w.replayed = 1620 },
			snaps:  map[int32]int64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := sound
			tt.change(&w)
			s := snaps
			if tt.snaps != nil {
				s = tt.snaps
			}
			r := &run{}
			r.checkCold(historyFill{acked: 1000}, &w, s, before, after)
			var got []string
			for _, f := range r.extra {
				if f.Kind != KindColdJoin {
					t.Errorf("finding of kind %q, want %q", f.Kind, KindColdJoin)
				}
				got = append(got, f.Detail)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("findings %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %q, want it to say %q", got[i], w)
				}
			}
			if len(r.notes) != 1 || !strings.Contains(r.notes[0], "records replayed of 1500 in the log") {
				t.Errorf("notes %q", r.notes)
			}
		})
	}
}
