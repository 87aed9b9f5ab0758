package bench

import (
	"math"
	"slices"
	"time"
)

// Percentiles of a latency distribution, in milliseconds, exact (every
// sample is kept): the value at rank ceil(q·count).
type Percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	// Mean is exact (no bucket), which makes it the figure to hold against
	// the server's histogram, whose sum is exact too.
	Mean float64 `json:"mean"`
}

// Result is the JSON report of a run. The fields of the other mode are left
// out: LoadResult and IdleResult are inlined pointers, nil in the other
// mode, so each mode's report stays flat.
type Result struct {
	Mode        string `json:"mode"`
	Rooms       int    `json:"rooms"`
	Members     int    `json:"members_per_room"`
	*LoadResult `json:",inline"`
	*IdleResult `json:",inline"`
	// Servers is each scraped server's CPU and memory: over the load (the
	// first send to the end of the drain), or over the idle hold.
	Servers []ServerStats    `json:"servers"`
	Closes  map[string]int64 `json:"unexpected_closes"`
	Errors  []string         `json:"errors"`
}

// LoadResult is the load mode's part of the report.
type LoadResult struct {
	TargetRate  float64 `json:"target_sends_per_sec"`
	DurationSec float64 `json:"duration_sec"`
	BodyBytes   int     `json:"body_bytes"`
	// Shape is who sends each slot (ShapeRandom or ShapeRoundRobin); Seed
	// the random shape's seed: the same seed offers the same senders.
	Shape string `json:"shape"`
	Seed  uint64 `json:"seed"`
	// WindowSec is the load window, from the first slot to the moment the
	// last one was issued; the drain comes after it.
	WindowSec float64 `json:"window_sec"`

	SendsScheduled int64 `json:"sends_scheduled"`
	// SendsSkipped were scheduled while the member's socket still had 64
	// sends waiting to be written (the server was not reading).
	SendsSkipped int64            `json:"sends_skipped"`
	SendsWritten int64            `json:"sends_written"`
	Acks         int64            `json:"acks"`
	SendErrors   map[string]int64 `json:"send_errors"`
	SendsPerSec  float64          `json:"sends_per_sec"`
	Deliveries   int64            `json:"deliveries"`
	// DeliveriesPerSec counts the deliveries read within the load window,
	// over the window (as ../shared/peers/limits does): the drain's
	// stragglers would otherwise stretch the time and lower the rate.
	DeliveriesInWindow int64   `json:"deliveries_in_window"`
	DeliveriesPerSec   float64 `json:"deliveries_per_sec"`
	// Expected is acks × members: every acknowledged message must reach
	// every socket of its room. Lost is what did not within the drain, on
	// sockets that stayed open; MissedAfterClose is what sockets the server
	// closed (say, 4008 when the generator reads too slowly) did not get: a
	// real client resumes with since_seq and gets those.
	Expected         int64 `json:"expected_deliveries"`
	Lost             int64 `json:"lost"`
	MissedAfterClose int64 `json:"missed_after_close"`
	Duplicated       int64 `json:"duplicated"`
	OutOfOrder       int64 `json:"out_of_order"`
	// Latency is slot → receipt of every delivery: the send's scheduled
	// time to the moment the whole frame was read on a member's socket. It
	// splits into the generator's issue lag (IssueLag, slot → the stamp
	// just before WriteMessage, once per send) and FromWrite (stamp →
	// receipt, per delivery), and FromWrite into WriteToSentAt (until the
	// owner decided the send: the socket read and the owner's queue) and
	// SentAtToDeliver (commit, tail, fan-out, the client's read). sent_at
	// has millisecond precision (truncated), on the same host clock.
	Latency         Percentiles `json:"send_to_deliver_ms"`
	IssueLag        Percentiles `json:"slot_to_write_ms"`
	FromWrite       Percentiles `json:"write_to_deliver_ms"`
	WriteToSentAt   Percentiles `json:"write_to_sent_at_ms"`
	SentAtToDeliver Percentiles `json:"sent_at_to_deliver_ms"`
	// ReadDelayMean is SentAtToDeliver's mean minus the server's own
	// sent_at → written mean (servers[].delivery_delay_ms): how late this
	// process read what the server had written. Absent without the server's
	// histogram.
	ReadDelayMean *float64 `json:"read_delay_mean_ms,omitempty"`
	// GeneratorBound flags a run whose own delay (issue lag, read delay) is
	// a large share of its latency (generatorBound).
	GeneratorBound bool        `json:"generator_bound"`
	AckLatency     Percentiles `json:"send_to_ack_ms"`
	// GeneratorCPUSec is this process's user + system CPU over the load and
	// the drain (getrusage), GeneratorCPUCores the same over that time: a
	// generator starved of CPU on a shared machine shows up here.
	GeneratorCPUSec   float64 `json:"generator_cpu_sec"`
	GeneratorCPUCores float64 `json:"generator_cpu_cores"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// nsMS is a nanosecond difference in milliseconds, µs resolution.
func nsMS(ns int64) float64 { return float64(ns/1000) / 1000 }

func round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*100) / 100
}

func percentiles(v []float64) Percentiles {
	if len(v) == 0 {
		return Percentiles{}
	}
	slices.Sort(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(v)))) - 1
		return round(v[max(0, min(i, len(v)-1))])
	}
	return Percentiles{Count: len(v), P50: at(.50), P90: at(.90), P95: at(.95), P99: at(.99), P999: at(.999), Max: round(v[len(v)-1]), Mean: round(sum / float64(len(v)))}
}
