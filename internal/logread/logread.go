// Package logread reads a topic's committed records from its start to its
// end, as consumers may see them: the check that tests and the fault suite
// run over the whole history, and how internal/fleet reads its small
// compacted topic. It never imports a role package.
package logread

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// End is where a read stops.
type End int

const (
	// HighWatermark reads through the end offsets listed at the start. An
	// acknowledged append's commit marker is written a moment after the
	// commit returns, and until then the last stable offset stops short of
	// it; reading through the marker (control records are fetched) waits
	// for it, so every acknowledged append is read.
	HighWatermark End = iota
	// LastStable reads up to the last stable offsets listed at the start:
	// exactly what read_committed consumers may see at that moment.
	LastStable
)

// Read calls each for every committed data record of topic, partition by
// partition in offset order, from the start up to end. Aborted records
// (a fenced writer's) and control records are not passed. An error of each
// stops the read and is returned.
func Read(ctx context.Context, brokers []string, topic string, end End, each func(*kgo.Record) error) error {
	return ReadWith(ctx, []kgo.Opt{kgo.SeedBrokers(brokers...)}, topic, end, each)
}

// ReadWith is Read with the client options of a service (seed brokers,
// logger, TLS, …) instead of bare brokers.
func ReadWith(ctx context.Context, opts []kgo.Opt, topic string, end End, each func(*kgo.Record) error) error {
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), kgo.FetchMaxBytes(32<<20))...)
	if err != nil {
		return fmt.Errorf("client for %s: %w", topic, err)
	}
	defer cl.Close()
	ends, err := listEnds(ctx, kadm.NewClient(cl), topic, end)
	if err != nil {
		return err
	}
	pos := map[int32]int64{}
	done := func() bool {
		ok := true
		ends.Each(func(o kadm.ListedOffset) {
			if pos[o.Partition] < o.Offset {
				ok = false
			}
		})
		return ok
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reading %s stopped at %v of %v: %w", topic, pos, ends, ctx.Err())
		}
		var stop error
		fs.EachRecord(func(r *kgo.Record) {
			pos[r.Partition] = r.Offset + 1
			if stop != nil || r.Attrs.IsControl() {
				return
			}
			stop = each(r)
		})
		if stop != nil {
			return stop
		}
	}
	return nil
}

// listEnds lists the end offsets, retrying while the cluster cannot answer
// (a broker just restarted by a fault) until ctx is done.
func listEnds(ctx context.Context, adm *kadm.Client, topic string, end End) (kadm.ListedOffsets, error) {
	for {
		var (
			ends kadm.ListedOffsets
			err  error
		)
		if end == LastStable {
			ends, err = adm.ListCommittedOffsets(ctx, topic)
		} else {
			ends, err = adm.ListEndOffsets(ctx, topic)
		}
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			return ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
