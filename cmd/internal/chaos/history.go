package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// Poison is a record of the rooms topic that does not decode.
type Poison struct {
	Partition int32
	Offset    int64
	Err       string
}

// History is every committed record of the rooms topic: the events in log
// order (partition by partition, each in offset order, which is each
// room's order) and the records that do not decode.
type History struct {
	Events []schemas.Envelope
	Poison []Poison
}

// readHistory reads the rooms topic from the start up to its last stable
// offsets, read_committed: exactly what consumers may see. Aborted appends
// (a fenced owner's) are not in it.
func readHistory(ctx context.Context, brokers []string, topic string) (*History, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	perPart := map[int32][]schemas.Envelope{}
	h := &History{}
	err := logread.Read(ctx, brokers, topic, logread.LastStable, func(r *kgo.Record) error {
		e, err := schemas.Events.Decode(r.Value)
		if err != nil {
			h.Poison = append(h.Poison, Poison{Partition: r.Partition, Offset: r.Offset, Err: err.Error()})
			return nil
		}
		perPart[r.Partition] = append(perPart[r.Partition], e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, p := range slices.Sorted(maps.Keys(perPart)) {
		h.Events = append(h.Events, perPart[p]...)
	}
	return h, nil
}

// openChunk is how many events of the log one key query serves.
const openChunk = 10_000

// history reads the run's rooms topic.
func (s *system) history(ctx context.Context) (*History, error) {
	h, err := readHistory(ctx, s.brokers, s.names.Rooms)
	if err != nil {
		return nil, err
	}
	// From feature level 4 the log holds sealed texts (docs/adr/0009):
	// opened with the keys the command service committed before each
	// append, so that the checks compare what was acknowledged with what
	// any reader can still read. A fresh reader: no cached key hides one
	// that is gone. In chunks, for a query of bounded size.
	keys := msgkeys.NewReader(s.pg, s.names.Rooms)
	for from := 0; from < len(h.Events); from += openChunk {
		if err := keys.Open(ctx, h.Events[from:min(from+openChunk, len(h.Events))]); err != nil {
			return nil, fmt.Errorf("open the sealed texts of the log: %w", err)
		}
	}
	return h, nil
}

// historyName names the whole-history check of the suite's system.
func (st *suite) historyName() string {
	if st.sys.cluster != nil {
		return "whole-history-cluster"
	}
	return "whole-history"
}

// wholeHistory checks the run's whole log once every scenario is done:
// every invariant over every room, the poison records, and both stores'
// views of every room.
func (st *suite) wholeHistory(ctx context.Context) *Result {
	start := time.Now()
	res := &Result{Name: st.historyName(), Summary: "every room of the run: the log's invariants, dead letters, both views",
		RecoveryMS: -1, ProjectionLagMS: -1, CatchUpMS: -1, WriteUnavailableMS: -1, FaultSendP99MS: -1}
	sys := st.sys
	if err := sys.ensureRunning(ctx); err != nil {
		res.addFindings(finding(KindAborted, 0, "the system did not recover: %v", err))
	}
	st.mu.Lock()
	res.Tally = st.tally
	hoppers := slices.Clone(st.hoppers)
	st.mu.Unlock()
	var (
		h   *History
		f   *Fold
		err error
	)
	deadline := time.Now().Add(st.size.CatchUp)
	for {
		if h, err = sys.history(ctx); err != nil {
			res.addFindings(finding(KindAborted, 0, "reading the log: %v", err))
			return res
		}
		f = FoldLog(h.Events, st.size.Capacity)
		if len(CheckOneRoom(f, hoppers)) == 0 || time.Now().After(deadline) {
			break
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	res.addFindings(f.Findings...)
	res.addFindings(CheckOneRoom(f, hoppers)...)
	if got, want := len(h.Poison), sys.poisoned(); got != want {
		res.addFindings(finding(KindPoison, 0, "%d undecodable records in the log, the suite appended %d", got, want))
	}
	all := slices.Sorted(maps.Keys(f.Rooms))
	lag, vf := sys.waitViews(ctx, f, all, st.size.CatchUp)
	res.addFindings(vf...)
	if len(vf) == 0 {
		res.ProjectionLagMS = ms(lag)
	}
	if pg, ch, err := sys.deadLetters(ctx); err != nil {
		res.addFindings(finding(KindPoison, 0, "dead letters: %v", err))
	} else if want := int64(sys.poisoned()); pg != want || ch != want {
		res.addFindings(finding(KindPoison, 0, "dead letters: PostgreSQL %d, ClickHouse %d, appended %d", pg, ch, want))
	}
	res.addFindings(sys.crashes()...)
	res.Notes = append(res.Notes, fmt.Sprintf("%d events in %d rooms, %d undecodable records", len(h.Events), len(f.Rooms), len(h.Poison)))
	res.DurationMS = ms(time.Since(start))
	return res
}
