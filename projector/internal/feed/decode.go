package feed

import (
	"runtime"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Decode turns polled records into Records, and collects the high
// watermarks seen per partition. A record that does not decode is kept, with
// Err set: the loop stops its partition there if it is an event of a newer
// build (see Block), and the sink records any other one as poison and moves
// past it.
func Decode(reg *schemas.Registry, fetches kgo.Fetches) ([]Record, map[TP]int64, map[TP]int64) {
	raw := make([]*kgo.Record, 0, fetches.NumRecords())
	hwm := map[TP]int64{}
	consumed := map[TP]int64{}
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err == nil {
			hwm[TP{p.Topic, p.Partition}] = p.HighWatermark
		}
		if n := len(p.Records); n > 0 {
			consumed[TP{p.Topic, p.Partition}] = p.Records[n-1].Offset + 1
		}
		for _, r := range p.Records {
			if !r.Attrs.IsControl() {
				raw = append(raw, r)
			}
		}
	})
	recs := make([]Record, len(raw))
	decode := func(from, to int) {
		for i := from; i < to; i++ {
			r := raw[i]
			recs[i] = DecodeRecord(reg, r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
	}
	// Decoding is most of a replay's CPU: large polls use every CPU.
	runs := decodeRuns(len(raw), runtime.GOMAXPROCS(0))
	if len(runs) == 1 {
		decode(runs[0][0], runs[0][1])
		return recs, hwm, consumed
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() { decode(r[0], r[1]) })
	}
	wg.Wait()
	return recs, hwm, consumed
}

// decodeRuns splits n records into the runs decoded by one goroutine each.
func decodeRuns(n, workers int) [][2]int { return Runs(n, parallelDecode, workers) }

// Runs splits n items into the runs [from, to) that one goroutine each
// works on: one run below minParallel items or with one CPU, otherwise one
// run per CPU of near-equal size (the last may be shorter). The decoder and
// the history sink's softening split their work this way; a function of its
// own so that the split is tested exactly (through its callers, any split
// gives the same records).
func Runs(n, minParallel, workers int) [][2]int {
	if n < minParallel || workers < 2 {
		return [][2]int{{0, n}}
	}
	size := (n + workers - 1) / workers
	var runs [][2]int
	for from := 0; from < n; from += size {
		runs = append(runs, [2]int{from, min(from+size, n)})
	}
	return runs
}

// parallelDecode is the poll size from which decoding is spread over CPUs.
const parallelDecode = 2000

// DecodeRecord decodes one record; Err is set if it is poison.
func DecodeRecord(reg *schemas.Registry, topic string, partition int32, offset int64, key, value []byte) Record {
	rec := Record{Topic: topic, Partition: partition, Offset: offset, Key: key, Value: value}
	env, err := reg.Decode(value)
	if err != nil {
		rec.Err = err
		return rec
	}
	rec.Env = env
	return rec
}
