package feed

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

func fetchesOf(parts map[int32]int) kgo.Fetches {
	var topic kgo.FetchTopic
	topic.Topic = "rooms"
	for p := int32(0); p < int32(len(parts)); p++ {
		fp := kgo.FetchPartition{Partition: p, HighWatermark: int64(parts[p] + 10)}
		for i := range parts[p] {
			var v []byte
			if i%7 == 3 {
				v = []byte("poison")
			} else {
				env := schemas.Envelope{ID: schemas.ID(1000*int(p) + i + 1), RoomID: 1, Seq: int64(i + 1),
					OccurredAt: time.UnixMilli(1795000000000), Payload: schemas.RoomApproved{}}
				var err error
				if v, err = schemas.Events.Encode(env); err != nil {
					panic(err)
				}
			}
			fp.Records = append(fp.Records, &kgo.Record{Topic: "rooms", Partition: p, Offset: int64(i), Value: v})
		}
		topic.Partitions = append(topic.Partitions, fp)
	}
	return kgo.Fetches{{Topics: []kgo.FetchTopic{topic}}}
}

// TestDecode: records come out in log order per partition, poison ones
// marked, with the high watermarks, whether decoded on one CPU or many.
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts map[int32]int
	}{
		{"small, one goroutine", map[int32]int{0: 5, 1: 3}},
		{"large, parallel", map[int32]int{0: 1500, 1: 1200, 2: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, hwm, consumed := Decode(schemas.Events, fetchesOf(tc.parts))
			for p, n := range tc.parts {
				if got := consumed[TP{Topic: "rooms", Partition: p}]; got != int64(n) {
					t.Fatalf("partition %d consumed up to %d, want %d", p, got, n)
				}
			}
			total := 0
			for _, n := range tc.parts {
				total += n
			}
			if len(recs) != total {
				t.Fatalf("%d records, want %d", len(recs), total)
			}
			next := map[int32]int64{}
			for _, r := range recs {
				if r.Offset != next[r.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
				}
				next[r.Partition]++
				poison := r.Offset%7 == 3
				if (r.Err != nil) != poison {
					t.Errorf("%d/%d: err %v, poison %v", r.Partition, r.Offset, r.Err, poison)
				}
				if !poison && r.Env.Seq != r.Offset+1 {
					t.Errorf("%d/%d: seq %d", r.Partition, r.Offset, r.Env.Seq)
				}
			}
			for p, n := range tc.parts {
				if hwm[TP{"rooms", p}] != int64(n+10) {
					t.Errorf("high watermark of %d: %d", p, hwm[TP{"rooms", p}])
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	var b backoff
	for i := range 12 {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if b.wait(ctx) {
			t.Fatalf("wait %d: returned true although the context ended first", i)
		}
		cancel()
		if time.Since(start) > time.Second {
			t.Fatalf("wait %d ignored the context", i)
		}
	}
	if b.n != 12 {
		t.Errorf("attempts %d", b.n)
	}
	b.reset()
	if !b.wait(context.Background()) {
		t.Error("first wait after reset failed")
	}
}
