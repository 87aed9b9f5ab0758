package chaos

import (
	"testing"
	"time"

	"happychat/schemas"
)

// t0 is the origin of the hand-made send timelines; at(ms) a time after it.
var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func span(room schemas.ID, start, end int, acked bool) sendSpan {
	return sendSpan{room: room, start: at(start), end: at(end), acked: acked}
}

func TestLongestNoWrite(t *testing.T) {
	tests := []struct {
		name     string
		spans    []sendSpan
		room     schemas.ID
		from, to int // the expected interval, in ms after t0
	}{
		{name: "no sends", spans: nil},
		{
			name: "steady sends: the longest latency before the first ack, then the gaps",
			spans: []sendSpan{
				span(roomA, 0, 10, true), span(roomA, 20, 30, true), span(roomA, 40, 50, true),
			},
			room: roomA, from: 0, to: 10,
		},
		{
			name: "an outage: sends retried across it, from the first send after the last ack",
			spans: []sendSpan{
				span(roomA, 0, 5, true), span(roomA, 10, 15, true),
				span(roomA, 20, 4020, true), span(roomA, 30, 4030, true), span(roomA, 4040, 4045, true),
			},
			room: roomA, from: 20, to: 4020,
		},
		{
			name: "idle time between bursts is not unavailability",
			spans: []sendSpan{
				span(roomA, 0, 5, true), span(roomA, 10000, 10050, true),
			},
			room: roomA, from: 10000, to: 10050,
		},
		{
			name: "the worst room wins",
			spans: []sendSpan{
				span(roomA, 0, 5, true), span(roomA, 10, 2015, true),
				span(roomB, 0, 5, true), span(roomB, 10, 3010, true), span(roomB, 3020, 3025, true),
			},
			room: roomB, from: 10, to: 3010,
		},
		{
			name: "an outage the load outlived: from the last ack to the last send given up on",
			spans: []sendSpan{
				span(roomA, 0, 5, true), span(roomA, 10, 90010, false), span(roomA, 20, 90020, false),
			},
			room: roomA, from: 10, to: 90020,
		},
		{
			name: "a room that never acknowledged: from its first send",
			spans: []sendSpan{
				span(roomB, 100, 5100, false), span(roomB, 200, 7200, false),
				span(roomA, 0, 5, true),
			},
			room: roomB, from: 100, to: 7200,
		},
		{
			name: "a slow send overlapping faster ones: outstanding at the cut",
			spans: []sendSpan{
				span(roomA, 0, 10, true), span(roomA, 5, 2000, true), span(roomA, 8, 12, true),
			},
			room: roomA, from: 12, to: 2000,
		},
		{
			name: "a send given up on: the interval runs from its start to the next ack",
			spans: []sendSpan{
				span(roomA, 0, 10, true), span(roomA, 11, 20, false), span(roomA, 30, 40, true),
			},
			room: roomA, from: 11, to: 40,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := longestNoWrite(tc.spans)
			if tc.room == 0 {
				if got.length() != 0 {
					t.Fatalf("got %v in room %d, want none", got.length(), got.room)
				}
				return
			}
			if got.room != tc.room || !got.from.Equal(at(tc.from)) || !got.to.Equal(at(tc.to)) {
				t.Fatalf("got room %d %v..%v, want room %d %dms..%dms",
					got.room, got.from.Sub(t0), got.to.Sub(t0), tc.room, tc.from, tc.to)
			}
		})
	}
}

func TestSendLatencyP99(t *testing.T) {
	var ss []sendSpan
	for i := range 100 {
		ss = append(ss, span(roomA, 1000+i, 1000+i+10+i, true)) // latencies 10..109 ms
	}
	ss = append(ss,
		span(roomA, 0, 5000, true),     // begun before the window
		span(roomA, 1050, 9000, false), // not acknowledged
		span(roomA, 5000, 9000, true),  // begun after the window
	)
	p99, n := sendLatencyP99(ss, at(1000), at(1099))
	if n != 100 {
		t.Fatalf("%d sends in the window, want 100", n)
	}
	if p99 != 108 {
		t.Fatalf("p99 %v ms, want 108", p99)
	}
}

func TestSpans(t *testing.T) {
	sends := []*timedSend{
		{Send: Send{Room: roomA, Outcome: Acked}, start: at(0), acked: at(30),
			attempts: []attempt{{status: 503, at: at(10)}, {status: 201, at: at(30)}}},
		{Send: Send{Room: roomB, Outcome: Failed}, start: at(5),
			attempts: []attempt{{status: 503, at: at(10)}, {status: 503, at: at(90)}}},
		{Send: Send{Room: roomB, Outcome: Pending}, start: at(7)}, // never answered: no span
	}
	got := spans(sends)
	want := []sendSpan{span(roomA, 0, 30, true), span(roomB, 5, 90, false)}
	if len(got) != len(want) {
		t.Fatalf("got %d spans, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("span %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPartitionNoWrite(t *testing.T) {
	const parts = 6
	// Two rooms on different partitions: one with a 4 s outage, one steady.
	var a, b schemas.ID
	for id := schemas.ID(1); a == 0 || b == 0; id++ {
		switch p := schemas.Partition(id, parts); {
		case a == 0:
			a = id
		case b == 0 && p != schemas.Partition(a, parts):
			b = id
		}
	}
	spans := []sendSpan{
		span(a, 0, 5, true), span(a, 10, 4010, true),
		span(b, 0, 5, true), span(b, 10, 15, true),
	}
	got := partitionNoWrite(spans, parts)
	if len(got) != 2 {
		t.Fatalf("partitions %v, want 2", got)
	}
	if g := got[schemas.Partition(a, parts)]; g.room != a || g.length() != 4*time.Second {
		t.Errorf("partition of a: %+v, want room %d for 4s", g, a)
	}
	if g := got[schemas.Partition(b, parts)]; g.room != b || g.length() != 5*time.Millisecond {
		t.Errorf("partition of b: %+v, want room %d for 5ms", g, b)
	}
	if s := perPartition(got); s == "" {
		t.Error("perPartition rendered nothing")
	}
}
