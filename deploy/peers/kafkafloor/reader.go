package main

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// newReader is the run's reader, connected: it long-polls as happychat's
// realtime tail does (a fetch is answered as soon as a byte is there, else
// after 500 ms), reading committed records only when the writers commit.
func newReader(ctx context.Context, seeds []string, topic string, committed bool) (*kgo.Client, error) {
	iso := kgo.ReadCommitted()
	if !committed {
		iso = kgo.ReadUncommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso),
		kgo.FetchMaxWait(500*time.Millisecond), kgo.ClientID("kafkafloor-reader"))
	if err != nil {
		return nil, err
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// read tells the ledger of every record cl reads, each poll's records at
// the moment the poll returned, until the returned stop is called.
func read(ctx context.Context, cl *kgo.Client, l *ledger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			at := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) >= 8 {
					l.see(int(int64(binary.BigEndian.Uint64(r.Value))), at)
				}
			})
		}
	}()
	return func() { cancel(); <-done }
}
