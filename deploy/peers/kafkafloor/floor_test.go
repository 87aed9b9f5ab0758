package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestEveryModeAgainstKafka runs each writer for a moment on the broker of
// KAFKA_BROKERS (deploy/local) and checks what the benchmark relies on:
// every record answered, every answered record read once and in its
// room's order, and transactions holding the records they were given.
func TestEveryModeAgainstKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka")
	}
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("KAFKA_BROKERS is not set: eval \"$(deploy/local/env.sh)\"")
	}
	for _, mode := range []string{"serial", "group", "group2", "raw", "pipelined", "raw2", "acks"} {
		t.Run(mode, func(t *testing.T) {
			members := 1
			if mode == "group2" { // two members of the group, each its own transaction
				mode, members = "group", 2
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			o := options{brokers: brokers, topic: fmt.Sprintf("kafkafloor-test-%s-%d", mode, time.Now().UnixNano()),
				mode: mode, partitions: 3, rf: 1, rooms: 7, size: 64, rate: 200,
				dur: 2 * time.Second, warm: 500 * time.Millisecond, drain: 10 * time.Second, brokerPID: os.Getpid(), members: members}
			res, err := run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			const want = 400 // rate × dur: the window's records
			if res.Acked != want || res.Failed != 0 || res.Unanswered != 0 {
				t.Fatalf("acked %d of %d (failed %d, unanswered %d)", res.Acked, want, res.Failed, res.Unanswered)
			}
			if res.Lost != 0 || res.Dup != 0 || res.OutOfOrder != 0 {
				t.Fatalf("lost %d, duplicated %d, out of order %d", res.Lost, res.Dup, res.OutOfOrder)
			}
			if res.Visible.N != want || res.Latency.N != want {
				t.Fatalf("latencies of %d answers and %d sights, want %d", res.Latency.N, res.Visible.N, want)
			}
			if mode != "acks" && (res.Txns == 0 || res.PerTxn < 1) {
				t.Fatalf("%d transactions of %.2f records", res.Txns, res.PerTxn)
			}
			if res.BrokerCores <= 0 {
				t.Fatalf("no CPU measured for pid %d", o.brokerPID)
			}
		})
	}
}
