package feed

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Block is a partition the loop stopped applying: the record at Offset is an
// event this build does not know (a type or version of a newer build,
// schemas.ErrUnknownEvent), not a malformed one. Skipping it would lose an
// event for good (the views would never hold it, even after the upgrade), so
// the partition waits at that record for a build that reads it
// (docs/command.md, "Rolling upgrades").
type Block struct {
	TP
	Offset int64
	Err    error
}

// BlockObserver, if the Observer implements it, learns when a partition
// blocks and when this instance lets go of a blocked partition (revoked,
// lost, or a new session). Unblocked may be called from the Kafka client's
// goroutine (rebalance callbacks), so implementations guard their state.
type BlockObserver interface {
	Blocked(b Block)
	Unblocked(tps []TP)
}

// blocks holds the partitions of one session that wait at an unknown event.
// The loop adds to it; the rebalance callbacks remove from it.
type blocks struct {
	obs BlockObserver // may be nil
	log *slog.Logger

	mu sync.Mutex
	at map[TP]Block
}

func newBlocks(o Observer, log *slog.Logger) *blocks {
	b := &blocks{at: map[TP]Block{}, log: log}
	b.obs, _ = o.(BlockObserver)
	return b
}

// filter takes out of recs every record of a blocked partition from its
// blocking record on, blocking a partition at its first unknown event, and
// clips the consumed positions to the blocking record: nothing at or after
// it counts as read. Newly blocked partitions are paused, so that the client
// stops fetching them (paused partitions stay paused until resumed, across
// rebalances, per kgo's PauseFetchPartitions).
func (b *blocks) filter(cl *kgo.Client, recs []Record, consumed map[TP]int64) []Record {
	b.mu.Lock()
	var fresh []Block
	out := recs[:0]
	for _, r := range recs {
		tp := TP{r.Topic, r.Partition}
		if bl, ok := b.at[tp]; ok && r.Offset >= bl.Offset {
			continue
		}
		if r.Err != nil && errors.Is(r.Err, schemas.ErrUnknownEvent) {
			bl := Block{TP: tp, Offset: r.Offset, Err: r.Err}
			b.at[tp] = bl
			fresh = append(fresh, bl)
			continue
		}
		out = append(out, r)
	}
	for tp, bl := range b.at {
		if off, ok := consumed[tp]; ok && off > bl.Offset {
			consumed[tp] = bl.Offset
		}
	}
	b.mu.Unlock()
	if len(fresh) == 0 {
		return out
	}
	pause := map[string][]int32{}
	for _, bl := range fresh {
		pause[bl.Topic] = append(pause[bl.Topic], bl.Partition)
	}
	cl.PauseFetchPartitions(pause)
	for _, bl := range fresh {
		b.log.Error("partition blocked at an event this build does not know: it waits for a build that reads it (docs/command.md, \"Rolling upgrades\")",
			"topic", bl.Topic, "partition", bl.Partition, "offset", bl.Offset, "err", bl.Err)
		if b.obs != nil {
			b.obs.Blocked(bl)
		}
	}
	return out
}

// release forgets the blocks of partitions this instance no longer owns and
// resumes fetching them, so that if they come back they are fetched again
// from the store's position and block again at the same record (a newer
// instance may have read it meanwhile).
func (b *blocks) release(cl *kgo.Client, parts map[string][]int32) {
	b.mu.Lock()
	var gone []TP
	resume := map[string][]int32{}
	for t, ps := range parts {
		for _, p := range ps {
			tp := TP{t, p}
			if _, ok := b.at[tp]; ok {
				delete(b.at, tp)
				gone = append(gone, tp)
				resume[t] = append(resume[t], p)
			}
		}
	}
	b.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	if cl != nil {
		cl.ResumeFetchPartitions(resume)
	}
	if b.obs != nil {
		b.obs.Unblocked(gone)
	}
}

// releaseAll forgets every block at the end of a session (its client, and
// with it the pauses, is gone).
func (b *blocks) releaseAll() {
	b.mu.Lock()
	gone := make([]TP, 0, len(b.at))
	for tp := range b.at {
		gone = append(gone, tp)
	}
	clear(b.at)
	b.mu.Unlock()
	if len(gone) > 0 && b.obs != nil {
		b.obs.Unblocked(gone)
	}
}
