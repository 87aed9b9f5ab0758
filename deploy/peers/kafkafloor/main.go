// Command kafkafloor measures the floor under happychat's write path on
// this machine's Kafka: how soon a record appended with acks=all inside a
// committed transaction is answered, and how soon a read_committed reader
// sees it, with nothing of happychat around it. It schedules records open
// loop (record k is due at t0 + k/rate, and every latency counts from that
// slot), spreads them over rooms and partitions as peer-limits' members
// do, and writes them in one of the ways of writer.go. Its last stdout
// line is `RESULT key=value …` (ms), and -json writes the run in the shape
// deploy/peers/histograms.py reads.
//
//	kafkafloor -brokers 127.0.0.1:19092 -mode group -rate 1000 -dur 20s
//
// It creates its own topic and deletes it at the end (-keep keeps it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	brokers    string
	topic      string
	mode       string
	partitions int
	rf         int
	rooms      int
	size       int
	rate       float64
	dur, warm  time.Duration
	drain      time.Duration
	brokerPID  int
	jsonPath   string
	keep       bool
	linger     time.Duration
	members    int
}

func main() {
	var o options
	flag.StringVar(&o.brokers, "brokers", cmpOrStr(os.Getenv("KAFKA_BROKERS"), "127.0.0.1:19092"), "seed brokers, comma separated")
	flag.StringVar(&o.topic, "topic", fmt.Sprintf("kafkafloor-%d", time.Now().Unix()), "the run's own topic (created, then deleted)")
	flag.StringVar(&o.mode, "mode", "serial", "serial | group | raw | pipelined | raw2 | acks (writer.go)")
	flag.IntVar(&o.partitions, "partitions", 12, "partitions of the topic (happychat's rooms topic has 12)")
	flag.IntVar(&o.rf, "rf", 1, "replication factor (1 on deploy/local's single broker)")
	flag.IntVar(&o.rooms, "rooms", 50, "rooms, each on one partition")
	flag.IntVar(&o.size, "size", 300, "record value bytes")
	flag.Float64Var(&o.rate, "rate", 1000, "records per second")
	flag.DurationVar(&o.dur, "dur", 20*time.Second, "the measured window")
	flag.DurationVar(&o.warm, "warm", 5*time.Second, "load before the window, not measured")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "how long to wait for the reader after the load")
	flag.IntVar(&o.brokerPID, "bpid", 0, "the broker's pid: its CPU over the window")
	flag.StringVar(&o.jsonPath, "json", "", "write the run as JSON here")
	flag.BoolVar(&o.keep, "keep", false, "keep the topic")
	flag.IntVar(&o.members, "members", 1, "group mode: members of the owners' group in this process, each with its own transaction")
	flag.DurationVar(&o.linger, "linger", 0, "the producer's linger (acks mode: what batching buys the broker)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	if err == nil && o.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		err = os.WriteFile(o.jsonPath, b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kafkafloor:", err)
		fmt.Printf("RESULT target=floor mode=%s rate=%g failed=%q\n", o.mode, o.rate, err.Error())
		os.Exit(1)
	}
	fmt.Printf("RESULT target=floor mode=%s members=%d linger=%s rate=%g acked=%d p50=%.3f p99=%.3f p999=%.3f max=%.1f visible_p50=%.3f visible_p99=%.3f "+
		"lost=%d dup=%d out_of_order=%d failed=%d unanswered=%d txns=%d records_per_txn=%.2f "+
		"queued_p50=%.3f produce_p50=%.3f wait_p50=%.3f end_p50=%.3f produce_p99=%.3f end_p99=%.3f broker_cores=%.3f broker_us_per_record=%.1f\n",
		res.Mode, res.Members, o.linger, res.Rate, res.Acked, res.Latency.P50, res.Latency.P99, res.Latency.P999, res.Latency.Max, res.Visible.P50, res.Visible.P99,
		res.Lost, res.Dup, res.OutOfOrder, res.Failed, res.Unanswered, res.Txns, res.PerTxn,
		res.Queued.P50, res.Produce.P50, res.Wait.P50, res.End.P50, res.Produce.P99, res.End.P99, res.BrokerCores, res.BrokerUs)
}

func cmpOrStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type result struct {
	Target      string  `json:"target"`
	Mode        string  `json:"mode"`
	LingerMs    float64 `json:"linger_ms"`
	Members     int     `json:"members"`
	Rate        float64 `json:"rate"`
	Partitions  int     `json:"partitions"`
	WindowS     float64 `json:"window_s"`
	DrainS      float64 `json:"drain_s"`
	Acked       int     `json:"acked"`
	Failed      int     `json:"failed"`
	Unanswered  int     `json:"unanswered"`
	Lost        int     `json:"lost"`
	Dup         int     `json:"dup"`
	OutOfOrder  int     `json:"out_of_order"`
	Txns        int     `json:"txns"`
	PerTxn      float64 `json:"records_per_txn"`
	Latency     latFig  `json:"latency"` // due → answered committed
	Visible     latFig  `json:"visible"` // due → read by a reader
	Queued      latFig  `json:"queued"`  // per record: due → its transaction began
	Produce     latFig  `json:"produce"` // per transaction: produced and acknowledged
	Wait        latFig  `json:"wait"`    // per transaction: waiting for the one before (pipelined)
	End         latFig  `json:"end"`     // per transaction: EndTxn
	BrokerCores float64 `json:"broker_cores,omitempty"`
	BrokerUs    float64 `json:"broker_us_per_record,omitempty"`
}

func run(ctx context.Context, o options) (result, error) {
	if o.rate <= 0 || o.dur <= 0 || o.partitions < 1 || o.rooms < 1 {
		return result{}, errors.New("-rate, -dur, -partitions and -rooms must be positive")
	}
	seeds := strings.Split(o.brokers, ",")
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return result{}, err
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, int32(o.partitions), int16(o.rf), nil, o.topic); err != nil {
		return result{}, fmt.Errorf("create %s: %w", o.topic, err)
	}
	if !o.keep {
		defer func() {
			// deleted even when the run was interrupted
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_, _ = adm.DeleteTopics(dctx, o.topic)
		}()
	}
	t := target{topic: o.topic, partitions: o.partitions, rooms: o.rooms, size: o.size}
	r, err := newRig(ctx, o, seeds)
	if err != nil {
		return result{}, err
	}
	defer r.close()
	if err := r.warmUp(ctx, t); err != nil {
		return result{}, err
	}
	reader, err := newReader(ctx, seeds, o.topic, r.txn)
	if err != nil {
		return result{}, err
	}
	defer reader.Close()

	// The clock starts once everything is connected.
	every := time.Duration(float64(time.Second) / o.rate)
	n := int(o.rate * (o.warm + o.dur).Seconds())
	from := int(o.rate * o.warm.Seconds())
	l := newLedger(time.Now().Add(500*time.Millisecond), every, n, o.rooms)
	st := &stages{}
	w := r.writer(o, t, l, st)
	defer read(ctx, reader, l)()
	var cpu <-chan float64
	if o.brokerPID > 0 {
		cpu = cpuBetween(o.brokerPID, l.due(from), l.due(n))
	}
	// A script that runs another load beside this one starts it on this line.
	fmt.Fprintf(os.Stderr, "LOAD begins %s, measured from %s for %s\n", l.t0.UTC().Format(time.RFC3339Nano), l.due(from).UTC().Format(time.RFC3339Nano), o.dur)
	pending := make(chan int, n)
	go func() {
		defer close(pending)
		for k := range n {
			sleepUntil(l.due(k))
			select {
			case pending <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := w.run(ctx, pending); err != nil {
		return result{}, err
	}
	loadEnd := time.Now()
	for time.Since(loadEnd) < o.drain && !l.allSeen(n) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	res := result{Target: "floor", Mode: o.mode, LingerMs: ms(o.linger), Members: o.members, Rate: o.rate, Partitions: o.partitions,
		WindowS: o.dur.Seconds(), DrainS: time.Since(loadEnd).Seconds()}
	tl := l.tally(from, n)
	res.Acked, res.Failed, res.Unanswered, res.Lost, res.Dup, res.OutOfOrder = tl.acked, tl.failed, tl.unanswered, tl.lost, tl.dup, tl.ooo
	res.Latency, res.Visible = figure(tl.answer), figure(tl.visible)
	st.mu.Lock()
	res.Txns = len(st.perBatch)
	var recs float64
	for _, b := range st.perBatch {
		recs += b
	}
	if res.Txns > 0 {
		res.PerTxn = recs / float64(res.Txns)
	}
	res.Queued, res.Produce, res.Wait, res.End = figure(st.queued), figure(st.produce), figure(st.wait), figure(st.end)
	st.mu.Unlock()
	if cpu != nil {
		select {
		case secs := <-cpu:
			res.BrokerCores = secs / o.dur.Seconds()
			res.BrokerUs = 1e6 * secs / float64(max(res.Acked, 1))
		case <-time.After(time.Until(l.due(n)) + time.Second): // the window's end was not reached
		}
	}
	return res, nil
}
