package feed

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// TestDecodePositions: a partition's high watermark is taken only from a
// fetch without error, and its consumed position only from a fetch with
// records.
func TestDecodePositions(t *testing.T) {
	good := fetchesOf(map[int32]int{0: 2})[0].Topics[0].Partitions[0]
	tests := []struct {
		name         string
		part         kgo.FetchPartition
		wantHWM      bool
		wantConsumed int64 // 0: none
	}{
		{"records", good, true, 2},
		{"no records", kgo.FetchPartition{Partition: 0, HighWatermark: 12}, true, 0},
		{"a fetch error", kgo.FetchPartition{Partition: 0, HighWatermark: -1, Err: errors.New("not leader")}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetches := kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "rooms", Partitions: []kgo.FetchPartition{tt.part}}}}}
			recs, hwm, consumed := Decode(schemas.Events, fetches)
			tp := TP{"rooms", 0}
			if len(recs) != len(tt.part.Records) {
				t.Fatalf("%d records, want %d", len(recs), len(tt.part.Records))
			}
			if got, ok := hwm[tp]; ok != tt.wantHWM || ok && got != tt.part.HighWatermark {
				t.Errorf("high watermark %d (%v), want %d (%v)", got, ok, tt.part.HighWatermark, tt.wantHWM)
			}
			if got, ok := consumed[tp]; ok != (tt.wantConsumed > 0) || got != tt.wantConsumed {
				t.Errorf("consumed up to %d (%v), want %d", got, ok, tt.wantConsumed)
			}
		})
	}
}

// TestDecodeWhateverTheCPUs: a large poll is decoded on every CPU; the
// records come out complete and in log order whatever their count and the
// number of CPUs (TestDecode runs on the machine's count only).
func TestDecodeWhateverTheCPUs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 7} {
		for _, n := range []int{parallelDecode - 1, parallelDecode, parallelDecode + 1, 2*parallelDecode + 5} {
			t.Run(fmt.Sprintf("%d CPUs, %d records", procs, n), func(t *testing.T) {
				runtime.GOMAXPROCS(procs)
				recs, _, _ := Decode(schemas.Events, fetchesOf(map[int32]int{0: n}))
				if len(recs) != n {
					t.Fatalf("%d records, want %d", len(recs), n)
				}
				for i, r := range recs {
					if r.Offset != int64(i) || (r.Err == nil) != (i%7 != 3) || r.Err == nil && r.Env.Seq != int64(i+1) {
						t.Fatalf("record %d: offset %d, seq %d, err %v", i, r.Offset, r.Env.Seq, r.Err)
					}
				}
			})
		}
	}
}

// TestDecodeRuns: a poll is decoded in one run below parallelDecode records
// or on one CPU, otherwise in one contiguous run per CPU, each as long as
// the first but the last, together covering every record once.
func TestDecodeRuns(t *testing.T) {
	p := parallelDecode
	for _, tt := range []struct {
		n, workers int
		want       [][2]int
	}{
		{0, 4, [][2]int{{0, 0}}},
		{p - 1, 4, [][2]int{{0, p - 1}}},
		{p, 1, [][2]int{{0, p}}},
		{p, 2, [][2]int{{0, p / 2}, {p / 2, p}}},
		{p + 1, 2, [][2]int{{0, p/2 + 1}, {p/2 + 1, p + 1}}},
		{p + 1, 3, [][2]int{{0, 667}, {667, 1334}, {1334, p + 1}}},
		{p, 3, [][2]int{{0, 667}, {667, 1334}, {1334, p}}},
	} {
		if got := decodeRuns(tt.n, tt.workers); !slices.Equal(got, tt.want) {
			t.Errorf("decodeRuns(%d, %d CPUs) = %v, want %v", tt.n, tt.workers, got, tt.want)
		}
	}
}

// TestBackoffDelays: 100 ms, 200 ms, 400 ms, ... up to 5 s, each with
// jitter that takes off at most half; a reset starts again at 100 ms. The
// delays are checked as values (many draws each), not timed.
func TestBackoffDelays(t *testing.T) {
	bases := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000}
	for draw := range 200 {
		var b backoff
		for i, ms := range bases {
			base := ms * time.Millisecond
			if d := b.delay(); d < base/2 || d > base {
				t.Fatalf("draw %d, attempt %d: delay %s, want %s to %s", draw, i, d, base/2, base)
			}
		}
		b.reset()
		if d := b.delay(); d < 50*time.Millisecond || d > 100*time.Millisecond {
			t.Fatalf("draw %d: first delay after a reset %s, want 50ms to 100ms", draw, d)
		}
	}
}
