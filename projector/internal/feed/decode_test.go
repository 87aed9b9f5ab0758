package feed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// TestBackoffDelays: 100 ms, 200 ms, 400 ms, ... each with jitter that
// takes off at most half; a reset starts again at 100 ms. Timers never fire
// early, so the lower bounds are exact; the upper bound is loose (a busy
// machine fires timers late) and is checked on the shortest of several
// first waits.
func TestBackoffDelays(t *testing.T) {
	var b backoff
	for i, base := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		start := time.Now()
		if !b.wait(context.Background()) {
			t.Fatalf("wait %d returned false", i)
		}
		if took := time.Since(start); took < base/2 {
			t.Fatalf("wait %d took %s, want at least %s", i, took, base/2)
		}
	}
	shortest := time.Hour
	for range 3 {
		b.reset()
		start := time.Now()
		b.wait(context.Background())
		took := time.Since(start)
		if took < 50*time.Millisecond {
			t.Fatalf("first wait after a reset took %s, want at least 50ms", took)
		}
		shortest = min(shortest, took)
	}
	if shortest >= 190*time.Millisecond {
		t.Fatalf("the shortest of three first waits took %s, want at most 100ms (and some scheduling)", shortest)
	}
}
