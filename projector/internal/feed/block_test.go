package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// noteEdited stands for an event type a newer build introduces (at feature
// level 2); this build's registry, schemas.Events, does not know it.
type noteEdited struct {
	Text string `json:"text"`
}

func (noteEdited) EventType() string { return "test.note_edited" }

// newerRegistry is the registry of that newer build: what the log of this
// test holds, plus the new type.
func newerRegistry() *schemas.Registry {
	r := &schemas.Registry{}
	schemas.Define[schemas.RoomApproved](r, 1, schemas.ScopeRoom, nil)
	schemas.Define[noteEdited](r, 1, schemas.ScopeRoom, nil, schemas.AtLevel(2))
	return r
}

// blockObserver records the blocks the loop reports.
type blockObserver struct {
	*recObserver
	mu        sync.Mutex
	blocked   []Block
	unblocked []TP
	unblocks  int // calls to Unblocked
}

func (o *blockObserver) Blocked(b Block) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.blocked = append(o.blocked, b)
}

func (o *blockObserver) Unblocked(tps []TP) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unblocks++
	o.unblocked = append(o.unblocked, tps...)
}

func (o *blockObserver) blocks() []Block {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.blocked)
}

// TestRunBlocksAtAnUnknownEvent: a partition stops at an event of a newer
// build (neither dead-lettered nor skipped), the other partitions go on,
// malformed records stay poison, and a build that knows the event resumes
// the partition from the store's position with nothing lost.
func TestRunBlocksAtAnUnknownEvent(t *testing.T) {
	for _, group := range []string{"", "projector-test"} {
		name := "direct"
		if group != "" {
			name = "group"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			newer := newerRegistry()
			event := func(p int32, seq int64, payload schemas.Event) []byte {
				v, err := newer.Encode(schemas.Envelope{ID: schemas.ID(1000*int64(p) + seq), RoomID: schemas.ID(p + 1), Seq: seq,
					OccurredAt: time.UnixMilli(1795000000000), Payload: payload})
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			// Partition 0: an event, poison, the newer event, two events.
			// Partition 1: three events, then the newer type at seq 2, which
			// its room already has: not its next event, so poison.
			values := map[int32][][]byte{
				0: {event(0, 1, schemas.RoomApproved{}), []byte("poison"), event(0, 2, noteEdited{Text: "x"}),
					event(0, 3, schemas.RoomApproved{}), event(0, 4, schemas.RoomApproved{})},
				1: {event(1, 1, schemas.RoomApproved{}), event(1, 2, schemas.RoomApproved{}), event(1, 3, schemas.RoomApproved{}),
					event(1, 2, noteEdited{Text: "stale"})},
			}
			opts := newLogOf(t, values)
			p0, p1 := TP{loopTopic, 0}, TP{loopTopic, 1}

			sink := newMemSink(nil)
			obs := &blockObserver{recObserver: newRecObserver()}
			stop := runFeed(t, Config{Opts: opts, Group: group, Topics: []string{loopTopic}, Observer: obs}, sink)
			waitFor(t, "partition 0 blocked and partition 1 applied", func() bool {
				return len(obs.blocks()) > 0 && len(sink.offsets(p1)) == 4
			})
			// A few more polls: nothing past the block may arrive.
			time.Sleep(300 * time.Millisecond)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := sink.offsets(p0); !slices.Equal(got, span(0, 2)) {
				t.Errorf("partition 0 stored offsets %v, want 0..1 (stopped before the newer event at 2)", got)
			}
			for _, r := range sink.durable {
				if r.Err != nil && errors.Is(r.Err, schemas.ErrUnknownEvent) && (r.Partition != 1 || r.Offset != 3) {
					t.Errorf("%d/%d reached the sink (to be dead-lettered): %v", r.Partition, r.Offset, r.Err)
				}
			}
			if r := stored(sink, p1, 3); r == nil || !errors.Is(r.Err, schemas.ErrUnknownEvent) {
				t.Errorf("the stale newer event at 1/3 is not poison for the sink: %+v", r)
			}
			if r := stored(sink, p0, 1); r == nil || r.Err == nil {
				t.Errorf("the malformed record at 0/1 is not poison for the sink: %+v", r)
			}
			if b := obs.blocks(); len(b) != 1 || b[0].TP != p0 || b[0].Offset != 2 || !errors.Is(b[0].Err, schemas.ErrUnknownEvent) {
				t.Errorf("blocks reported %+v, want one at %v offset 2", b, p0)
			}
			if _, _, consumed, _ := obs.snapshot(); consumed[p0] > 2 {
				t.Errorf("partition 0 reported consumed up to %d, past its block at 2", consumed[p0])
			}

			// The newer build resumes where the store stands.
			obs2 := &blockObserver{recObserver: newRecObserver()}
			stop = runFeed(t, Config{Opts: opts, Group: group, Topics: []string{loopTopic}, Observer: obs2, Registry: newer}, sink)
			waitFor(t, "partition 0 applied to its end", func() bool { return len(sink.offsets(p0)) == 5 })
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := sink.offsets(p0); !slices.Equal(got, span(0, 5)) {
				t.Errorf("partition 0 stored offsets %v, want 0..4", got)
			}
			if r := stored(sink, p0, 2); r == nil || r.Err != nil || r.Env.Type != "test.note_edited" {
				t.Errorf("the newer build applied %+v at 0/2, want test.note_edited", r)
			}
			if b := obs2.blocks(); len(b) != 0 {
				t.Errorf("the newer build blocked: %+v", b)
			}
		})
	}
}

// stored returns the record the sink holds at tp and offset (the last one if
// it holds several).
func stored(s *memSink, tp TP, offset int64) *Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.durable) - 1; i >= 0; i-- {
		if r := &s.durable[i]; r.Topic == tp.Topic && r.Partition == tp.Partition && r.Offset == offset {
			return r
		}
	}
	return nil
}

// seqSink is a memSink that tells how far each room is stored.
type seqSink struct {
	*memSink
	seqs map[schemas.ID]int64
}

func (s seqSink) RoomSeq(_ context.Context, room schemas.ID) (int64, error) { return s.seqs[room], nil }

// TestBlocksFilter: the stale rule at its boundaries (an unknown event at
// the seq its room already has is poison, from this session's records or
// from the store; one past it blocks), records at and after a block are
// held back on this poll and the next ones, a block is reported once, and
// the consumed position stops at the blocking record.
func TestBlocksFilter(t *testing.T) {
	newer := newerRegistry()
	rec := func(p int32, off int64, room schemas.ID, seq int64, payload schemas.Event) Record {
		v, err := newer.Encode(schemas.Envelope{ID: schemas.ID(100*int64(p) + off + 1), RoomID: room, Seq: seq,
			OccurredAt: time.UnixMilli(1795000000000), Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		return DecodeRecord(schemas.Events, loopTopic, p, off, nil, v)
	}
	unknown := noteEdited{Text: "x"}
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled: only paused and resumed
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	obs := &blockObserver{recObserver: newRecObserver()}
	sink := seqSink{newMemSink(nil), map[schemas.ID]int64{2: 5, 3: 5}}
	b := newBlocks(obs, slog.New(slog.DiscardHandler), sink, func(fn func() error) error { return fn() })

	// Partition 0: room 1 at seq 3, then an unknown event at seq 3 (stale by
	// this session). Partition 1: an unknown event of room 2 at seq 5 (stale
	// by the store). Partition 2: an unknown event of room 3 at seq 6, the
	// next one: it blocks, and the record after it waits too.
	recs := []Record{
		rec(0, 0, 1, 3, schemas.RoomApproved{}), rec(0, 1, 1, 3, unknown),
		rec(1, 0, 2, 5, unknown),
		rec(2, 0, 3, 5, schemas.RoomApproved{}), rec(2, 1, 3, 6, unknown), rec(2, 2, 3, 7, schemas.RoomApproved{}),
	}
	p2 := TP{loopTopic, 2}
	consumed := map[TP]int64{{loopTopic, 0}: 2, {loopTopic, 1}: 1, p2: 3}
	out, err := b.filter(t.Context(), cl, slices.Clone(recs), consumed)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out {
		got = append(got, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
	}
	if want := []string{"0/0", "0/1", "1/0", "2/0"}; !slices.Equal(got, want) {
		t.Errorf("passed %v, want %v (the stale unknown events at 0/1 and 1/0 pass, to be dead-lettered)", got, want)
	}
	if consumed[p2] != 1 || consumed[TP{loopTopic, 0}] != 2 {
		t.Errorf("consumed %v, want partition 2 clipped to its block at 1, partition 0 at 2", consumed)
	}
	if bl := obs.blocks(); len(bl) != 1 || bl[0].TP != p2 || bl[0].Offset != 1 {
		t.Fatalf("blocks %+v, want one at 2/1", bl)
	}

	// The blocking record again (a refetch) and the record after it: both
	// held back, and the block is not reported twice.
	again := []Record{recs[4], recs[5]}
	consumed = map[TP]int64{p2: 3}
	out, err = b.filter(t.Context(), cl, again, consumed)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 0 || consumed[p2] != 1 || len(obs.blocks()) != 1 {
		t.Errorf("on the next poll: passed %v, consumed %v, %d blocks reported; want nothing, 1, 1", out, consumed, len(obs.blocks()))
	}

	// Letting go of another partition unblocks nothing; of partition 2, it.
	b.release(cl, map[string][]int32{loopTopic: {0}})
	if obs.unblocks != 0 {
		t.Errorf("unblocked %v after releasing partition 0", obs.unblocked)
	}
	b.release(nil, map[string][]int32{loopTopic: {2}})
	if !slices.Equal(obs.unblocked, []TP{p2}) {
		t.Errorf("unblocked %v after releasing partition 2, want [%v]", obs.unblocked, p2)
	}
	b.releaseAll()
	if len(obs.unblocked) != 1 || obs.unblocks != 1 {
		t.Errorf("unblocked %v in %d calls by the end of the session, want only the release of partition 2", obs.unblocked, obs.unblocks)
	}
}

// TestBlocksReleaseAll: the end of a session lets go of every block held,
// and says so once.
func TestBlocksReleaseAll(t *testing.T) {
	v, err := newerRegistry().Encode(schemas.Envelope{ID: 1, RoomID: 1, Seq: 1, OccurredAt: time.UnixMilli(1795000000000), Payload: noteEdited{Text: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1")) // never dialled: only paused
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	obs := &blockObserver{recObserver: newRecObserver()}
	b := newBlocks(obs, slog.New(slog.DiscardHandler), newMemSink(nil), func(fn func() error) error { return fn() })
	recs := []Record{DecodeRecord(schemas.Events, loopTopic, 1, 4, nil, v)}
	if _, err := b.filter(t.Context(), cl, recs, map[TP]int64{}); err != nil {
		t.Fatal(err)
	}
	b.releaseAll()
	if tp := (TP{loopTopic, 1}); obs.unblocks != 1 || !slices.Equal(obs.unblocked, []TP{tp}) {
		t.Errorf("unblocked %v in %d calls, want [%v] in 1", obs.unblocked, obs.unblocks, tp)
	}
}
