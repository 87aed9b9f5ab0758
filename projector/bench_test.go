package projector

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Benchmarks of docs/benchmarks.md ("Projector"). They need the servers and
// are run by hand, once:
//
//	go test ./projector -run '^$' -bench . -benchtime 1x
//
// PROJECTOR_BENCH_EVENTS sets the replayed log size (default 300000),
// PROJECTOR_BENCH_RATE and PROJECTOR_BENCH_SECONDS the steady load (default
// 5000 sends/s for 20 s).

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// busyLog returns messages across 1,000 rooms of 20 members each: the
// rooms are created and joined first, then every message goes to a random
// room, as in a busy chat.
func busyLog(names schemas.Names, messages int) func(yield func(*kgo.Record) bool) {
	return func(yield func(*kgo.Record) bool) {
		g := newGen(names, 1)
		g.poison = 0
		const rooms, members = 1000, 20
		roomIDs := make([]schemas.ID, rooms)
		users := make([][]schemas.ID, rooms)
		flush := func() bool {
			for _, r := range g.recs {
				if !yield(r) {
					return false
				}
			}
			g.recs = g.recs[:0]
			g.roomRecs = g.roomRecs[:0]
			return true
		}
		for i := range rooms {
			roomIDs[i] = g.createRoom()
			for range members {
				u := g.register()
				users[i] = append(users[i], u)
				g.emit(names.Rooms, roomIDs[i], schemas.Envelope{RoomID: roomIDs[i], UserID: u,
					Payload: schemas.RoomJoined{Nickname: g.nick[u]}})
			}
			if !flush() {
				return
			}
		}
		texts := []string{"hello everyone 👋", "what a darn nice day", "congrats on the new job!", "今日は良い天気ですね",
			"I think the answer is 42, but let me check the docs first", "lol"}
		for i := range messages {
			r := g.rng.IntN(rooms)
			u := users[r][g.rng.IntN(members)]
			m := g.id()
			g.emit(names.Rooms, roomIDs[r], schemas.Envelope{ID: m, RoomID: roomIDs[r], UserID: u, Payload: schemas.MessageSent{
				Text: texts[i%len(texts)], ClientMsgID: "c" + m.String(), Nickname: g.nick[u]}})
			if len(g.recs) >= 5000 && !flush() {
				return
			}
		}
		flush()
	}
}

func produceAll(b *testing.B, cl *kgo.Client, seq func(yield func(*kgo.Record) bool)) int {
	b.Helper()
	ctx := context.Background()
	n := 0
	batch := make([]*kgo.Record, 0, 10000)
	for r := range seq {
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	return n + len(batch)
}

// BenchmarkReplay measures the replay rate of each store over a log of
// PROJECTOR_BENCH_EVENTS messages across 1,000 rooms (12 partitions).
func BenchmarkReplay(b *testing.B) {
	needServers(b)
	names := newTopics(b, 12, 6)
	st := newStores(b)
	prod := newProducer(b)
	n := produceAll(b, prod, busyLog(names, benchEnv("PROJECTOR_BENCH_EVENTS", 300000)))
	b.Logf("log: %d records", n)
	rules := rulesWith(b, "darn")
	for _, view := range []string{ViewHistory, ViewRooms} {
		b.Run(view, func(b *testing.B) {
			for range b.N {
				res, err := Replay(context.Background(), ReplayConfig{View: view, Kafka: kafkaOpts(), Names: names,
					Pool: st.pg, ClickHouse: st.ch, Rules: rules, Log: testLog(b)})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(res[0].Rate(), "events/s")
				b.Logf("%s: %d events in %s = %.0f events/s (switch %s)", view, res[0].Events, res[0].Elapsed, res[0].Rate(), res[0].Switch)
			}
		})
	}
}

// BenchmarkSteadyLag appends PROJECTOR_BENCH_RATE messages per second for
// PROJECTOR_BENCH_SECONDS to 1,000 rooms while both projectors run, and
// reports the projection lag (occurred_at → committed) percentiles.
func BenchmarkSteadyLag(b *testing.B) {
	needServers(b)
	names := newTopics(b, 12, 6)
	st := newStores(b)
	prod := newProducer(b)
	rate := benchEnv("PROJECTOR_BENCH_RATE", 5000)
	secs := benchEnv("PROJECTOR_BENCH_SECONDS", 20)
	// Rooms and members first (not measured).
	var setup []*kgo.Record
	var msgs []*kgo.Record
	for r := range busyLog(names, rate*secs) {
		if string(r.Headers[0].Value) == schemas.TypeMessageSent {
			msgs = append(msgs, r)
		} else {
			setup = append(setup, r)
		}
	}
	for range b.N {
		produceAllSlice(b, prod, setup)
		reg := prometheus.NewRegistry()
		stop := startProjectors(b, names, st, rulesWith(b, "darn"), reg)
		waitCaughtUp(b, names, st, 10*time.Minute)
		before := delayHistograms(b, reg)
		// The load: every 10 ms, rate/100 messages stamped now.
		tick := time.NewTicker(10 * time.Millisecond)
		per := max(1, rate/100)
		start := time.Now()
		ctx := context.Background()
		for i := 0; i < len(msgs); i += per {
			<-tick.C
			batch := msgs[i:min(i+per, len(msgs))]
			restamp(b, batch)
			for _, r := range batch {
				prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
		}
		tick.Stop()
		if err := prod.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		sent := time.Since(start)
		waitCaughtUp(b, names, st, 10*time.Minute)
		after := delayHistograms(b, reg)
		stop()
		b.Logf("%d messages in %s (%.0f/s)", len(msgs), sent.Round(time.Millisecond), float64(len(msgs))/sent.Seconds())
		for _, name := range []string{pgProjectorName, chProjectorName} {
			h := after[name]
			if h == nil {
				b.Fatalf("no delay histogram for %s", name)
			}
			// Only the load: the setup's events are subtracted.
			h = subtract(h, before[name])
			p50, p90, p99 := quantile(h, 0.5), quantile(h, 0.9), quantile(h, 0.99)
			b.ReportMetric(p99*1000, name+"-p99-ms")
			b.Logf("%s: p50 ≤ %.0f ms, p90 ≤ %.0f ms, p99 ≤ %.0f ms over %d events", name, p50*1000, p90*1000, p99*1000, h.GetSampleCount())
		}
	}
}

func delayHistograms(b *testing.B, reg *prometheus.Registry) map[string]*dto.Histogram {
	b.Helper()
	mf, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]*dto.Histogram{}
	for _, f := range mf {
		if f.GetName() != "happychat_projector_delay_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "projector" {
					out[l.GetValue()] = m.GetHistogram()
				}
			}
		}
	}
	return out
}

// subtract returns the observations of a that are not in b (a taken later).
func subtract(a, b *dto.Histogram) *dto.Histogram {
	if b == nil {
		return a
	}
	count := a.GetSampleCount() - b.GetSampleCount()
	out := &dto.Histogram{SampleCount: &count}
	for i, bk := range a.GetBucket() {
		c := bk.GetCumulativeCount() - b.GetBucket()[i].GetCumulativeCount()
		out.Bucket = append(out.Bucket, &dto.Bucket{CumulativeCount: &c, UpperBound: bk.UpperBound})
	}
	return out
}

// restamp gives records the current time, as if just sent.
func restamp(b *testing.B, recs []*kgo.Record) {
	b.Helper()
	now := time.Now().UTC()
	for _, r := range recs {
		env, err := schemas.Events.Decode(r.Value)
		if err != nil {
			b.Fatal(err)
		}
		env.OccurredAt = now
		if r.Value, err = schemas.Events.Encode(env); err != nil {
			b.Fatal(err)
		}
	}
}

// quantile returns the upper bound of the bucket holding quantile q.
func quantile(h *dto.Histogram, q float64) float64 {
	want := q * float64(h.GetSampleCount())
	for _, bk := range h.GetBucket() {
		if float64(bk.GetCumulativeCount()) >= want {
			return bk.GetUpperBound()
		}
	}
	return float64(time.Hour / time.Second)
}

func produceAllSlice(b *testing.B, cl *kgo.Client, recs []*kgo.Record) {
	produceAll(b, cl, slices.Values(recs))
}
