package feed

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

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
}

func (o *blockObserver) Blocked(b Block) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.blocked = append(o.blocked, b)
}

func (o *blockObserver) Unblocked(tps []TP) {
	o.mu.Lock()
	defer o.mu.Unlock()
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
