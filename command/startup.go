// What an instance does before it serves: find the topic, load the
// snapshots, know where the log ends.

package command

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// releaseStartupMemory returns the memory of the start-up to the OS once the
// first takeovers are done: the snapshot bodies read from PostgreSQL (and
// the driver's read buffers for them) are garbage by then, but an idle
// process would not collect them for minutes, and its RSS would carry them.
// It does so once more a snapshot interval later: owners that replayed
// records past their snapshots write new ones within that interval, and
// encoding them leaves as much garbage again (measured: 92 MiB settled
// after a restart that replayed 7,455 records, against 49 MiB after one
// that replayed none; docs/benchmarks.md).
func (s *Service) releaseStartupMemory(ctx context.Context) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		s.omu.Lock()
		ready := len(s.owners) > 0
		for _, o := range s.owners {
			ready = ready && o.ready.Load()
		}
		s.omu.Unlock()
		if ready {
			break
		}
	}
	debug.FreeOSMemory()
	select {
	case <-ctx.Done():
	case <-time.After(s.cfg.SnapshotInterval + 5*time.Second):
		debug.FreeOSMemory()
	}
}

func isBlocked(s *Service, p int32) bool { return s.fold.parts[p].blockedErr() != nil }

// waitForTopic waits a little for a topic created a moment ago to reach
// every broker's metadata before giving up.
func (s *Service) waitForTopic(ctx context.Context) (kadm.TopicDetail, error) {
	var d kadm.TopicDetail
	deadline := time.Now().Add(30 * time.Second)
	for {
		details, err := kadm.NewClient(s.admin).ListTopics(ctx, s.cfg.Names.Rooms)
		var ok bool
		if err == nil {
			d, ok = details[s.cfg.Names.Rooms]
			ok = ok && d.Err == nil && len(d.Partitions) > 0
		}
		if ok {
			return d, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return d, fmt.Errorf("topic %s is missing (run happychat topics): %w", s.cfg.Names.Rooms, errors.Join(err, d.Err, ctx.Err()))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loadSnapshots installs the newest sound snapshot of every partition and
// returns the offsets to tail from. A snapshot that fails its checks (torn,
// corrupt, of another topic, past the log's end, of an unknown version) is
// skipped for the one before it, and without one the partition is read
// from the start.
func (s *Service) loadSnapshots(ctx context.Context) (map[int32]int64, error) {
	ends, err := kadm.NewClient(s.admin).ListEndOffsets(ctx, s.cfg.Names.Rooms)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	start := map[int32]int64{}
	for p := range int32(s.partitions) {
		start[p] = 0
		end, _ := ends.Lookup(s.cfg.Names.Rooms, p)
		cands, err := s.store.states(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, off := range cands {
			if off > end.Offset {
				s.log.Warn("snapshot past the end of the log: ignored", "partition", p, "offset", off, "end", end.Offset)
				continue
			}
			body, sum, err := s.store.state(ctx, p, off)
			if err != nil {
				return nil, fmt.Errorf("read snapshot: %w", err)
			}
			st, err := decodeState(body, sum, s.topicID, p)
			if err != nil {
				s.metrics.snapshotFailures.Inc()
				s.log.Warn("snapshot unusable: trying an older one", "partition", p, "offset", off, "err", err)
				continue
			}
			st.install(s.fold.parts[p])
			start[p] = st.Offset
			break
		}
	}
	return start, nil
}

// stableOffsets returns the last stable offset of every partition.
func (s *Service) stableOffsets(ctx context.Context) (map[int32]int64, error) {
	offs, err := kadm.NewClient(s.admin).ListCommittedOffsets(ctx, s.cfg.Names.Rooms)
	if err != nil {
		return nil, fmt.Errorf("list stable offsets: %w", err)
	}
	out := map[int32]int64{}
	var errs []error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	return out, errors.Join(errs...)
}

// stableOffsetRetries bounds how long stableOffset waits out a partition
// whose leader just moved, about a broker failover's length.
const stableOffsetRetries = 10 * time.Second

// stableOffset returns the partition's last stable offset. Right after a
// leader election the new leader answers OFFSET_NOT_AVAILABLE until its
// high watermark caught up, and NOT_LEADER_OR_FOLLOWER while metadata is
// stale: both retriable, and waited out here rather than failing the owner,
// which would then start over with a fresh producer (measured: 3 s more
// without writes after a broker's SIGKILL).
func (s *Service) stableOffset(ctx context.Context, part int32) (int64, error) {
	deadline := time.Now().Add(stableOffsetRetries)
	backoff := 50 * time.Millisecond
	for {
		offs, err := kadm.NewClient(s.admin).ListCommittedOffsets(ctx, s.cfg.Names.Rooms)
		if err == nil {
			o, ok := offs.Lookup(s.cfg.Names.Rooms, part)
			switch {
			case !ok:
				err = fmt.Errorf("stable offset of partition %d: not listed", part)
			case o.Err != nil:
				err = fmt.Errorf("stable offset of partition %d: %w", part, o.Err)
			default:
				return o.Offset, nil
			}
		} else {
			err = fmt.Errorf("list stable offsets: %w", err)
		}
		if !kerr.IsRetriable(err) || time.Now().Add(backoff).After(deadline) {
			return 0, err
		}
		s.log.Debug("stable offset not available yet, retrying", "partition", part, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// barrier waits until the tail holds every event committed anywhere before
// the call: a join decided after it sees the user's every acknowledged join.
// It waits for the high watermark, not the last stable offset: a commit
// acknowledged a moment ago may still have its marker in flight, and the
// stable offset stops short of it until the marker is written.
func (s *Service) barrier(ctx context.Context) error {
	listed, err := kadm.NewClient(s.admin).ListEndOffsets(ctx, s.cfg.Names.Rooms)
	if err != nil {
		return fmt.Errorf("list end offsets: %w", err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			ends[o.Partition] = o.Offset
		}
	})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for p, end := range ends {
		if err := s.tail.waitFor(ctx, p, end); err != nil && !isBlocked(s, p) {
			return err
		}
	}
	return nil
}
