package feed

import (
	"context"
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

// RoomSeqs is implemented by sinks that can tell how far a room is applied
// in their store (its highest seq, 0 if none): an event this build does not
// know at or below it cannot be the room's next event, so it is poison, not
// a newer build's event to wait for (the command service's rule too).
type RoomSeqs interface {
	RoomSeq(ctx context.Context, room schemas.ID) (int64, error)
}

// blocks holds the partitions of one session that wait at an unknown event.
// The loop adds to it; the rebalance callbacks remove from it.
type blocks struct {
	obs   BlockObserver // may be nil
	log   *slog.Logger
	seqs  RoomSeqs // may be nil
	retry func(fn func() error) error
	// seen is the highest seq of each room handed to the sink in this
	// session: a store read before Apply does not know them yet.
	seen map[schemas.ID]int64

	mu sync.Mutex
	at map[TP]Block
}

func newBlocks(o Observer, log *slog.Logger, sink Sink, retry func(fn func() error) error) *blocks {
	b := &blocks{at: map[TP]Block{}, log: log, seen: map[schemas.ID]int64{}, retry: retry}
	b.obs, _ = o.(BlockObserver)
	b.seqs, _ = sink.(RoomSeqs)
	return b
}

// stale reports whether an unknown event cannot be its room's next event:
// its seq is at or below what the room already has. Without a room and a
// seq (a user event of a newer build), it could be anything: not stale.
func (b *blocks) stale(ctx context.Context, r *Record) (bool, error) {
	room, seq, ok := schemas.RoomSeqOf(r.Value)
	if !ok || room == 0 {
		return false, nil
	}
	if seq <= b.seen[room] {
		return true, nil
	}
	if b.seqs == nil {
		return false, nil
	}
	var stored int64
	err := b.retry(func() error {
		var err error
		stored, err = b.seqs.RoomSeq(ctx, room)
		return err
	})
	return seq <= stored, err
}

// filter takes out of recs every record of a blocked partition from its
// blocking record on, blocking a partition at its first unknown event that
// is not stale (a stale one stays in recs: the sink dead-letters it), and
// clips the consumed positions to the blocking record: nothing at or after
// it counts as read. Newly blocked partitions are paused, so that the client
// stops fetching them (paused partitions stay paused until resumed, across
// rebalances, per kgo's PauseFetchPartitions).
func (b *blocks) filter(ctx context.Context, cl *kgo.Client, recs []Record, consumed map[TP]int64) ([]Record, error) {
	b.mu.Lock()
	var fresh []Block
	out := recs[:0]
	for i := range recs {
		r := &recs[i]
		tp := TP{r.Topic, r.Partition}
		if bl, ok := b.at[tp]; ok && r.Offset >= bl.Offset {
			continue
		}
		if r.Err == nil && r.Env.RoomID > 0 && r.Env.Seq > b.seen[r.Env.RoomID] {
			b.seen[r.Env.RoomID] = r.Env.Seq
		}
		if r.Err != nil && errors.Is(r.Err, schemas.ErrUnknownEvent) {
			stale, err := b.stale(ctx, r)
			if err != nil {
				b.mu.Unlock()
				return nil, err
			}
			if !stale {
				bl := Block{TP: tp, Offset: r.Offset, Err: r.Err}
				b.at[tp] = bl
				fresh = append(fresh, bl)
				continue
			}
		}
		out = append(out, *r)
	}
	for tp, bl := range b.at {
		if off, ok := consumed[tp]; ok && off > bl.Offset {
			consumed[tp] = bl.Offset
		}
	}
	b.mu.Unlock()
	if len(fresh) == 0 {
		return out, nil
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
	return out, nil
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
