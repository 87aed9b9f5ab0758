package realtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// Shared resume readers. The resumes that must read the log share one
// reader per partition of the rooms topic: a Kafka client (read_committed,
// no group) that the first such resume of the partition starts, that every
// other resume of a room on that partition joins, and that closes when the
// last one leaves. N members resuming at once so open one client and read
// the partition once, not N times.
//
//   - A reader fetches from the lowest offset any of its resumes still
//     needs: a resume that joins (or comes back, below) below the reader's
//     position moves it back there (the others skip by seq what they
//     already have). A resume that joins ahead of it waits until the reader
//     gets there.
//   - The reader never waits for a resume. It hands each one its room's
//     frames, decoded and rendered once per record, into a buffer of at
//     most resumeBuffer frames, taking at most half that many records a
//     poll (the rest stays buffered in the client), so a resume whose
//     catch-up keeps up is never full. A resume whose buffer is full is
//     paused at the offset of the first record it missed; once its catch-up
//     takes the buffer, the reader goes back to that offset for it. While
//     no resume has room (each paused or half full) the reader does not
//     poll. A catch-up whose socket queue stays full leaves the reader
//     altogether (queueCatchUp) and joins again, located by seq, when its
//     client has drained: a slow client holds neither the reader nor its
//     slot.
//   - A reader holds one of Config.MaxCatchUps slots while its client is
//     open; resumes of a partition without a reader wait for one there,
//     joined to the reader that will start when it gets the slot.
//   - Everything a resume learns about its room (its last seq, whether a
//     seq at or before the next was seen, an unknown event, a wrong located
//     offset) is its own, exactly as when each resume read alone.

// resumeBuffer bounds the frames a reader holds for one resume that its
// catch-up has not taken yet (at a few hundred bytes a frame, a few hundred
// KiB at most).
const resumeBuffer = 1024

// readers are a Service's partition readers, by partition.
type readers struct {
	s      *Service
	mu     sync.Mutex
	byPart map[int32]*partReader
}

// partReader is one partition's reader and the resumes it serves. Its mu
// guards its fields and those of its resumes.
type partReader struct {
	s    *Service
	part int32

	mu    sync.Mutex
	subs  map[*resumeSub]struct{}
	byKey map[string][]*resumeSub
	// seekTo is the lowest offset a resume asked for since the last poll
	// (-1: none); pos is the offset after the last record read (-1: the
	// client has not started).
	seekTo, pos int64
	// kick cancels the poll in flight (nil between polls); kicked says it
	// did, so that the poll's emptiness does not count as a stall.
	kick   context.CancelFunc
	kicked bool
	// changed wakes the reader while it waits for a slot or for a paused
	// resume to be taken up again.
	changed chan struct{}
}

func newReaders(s *Service) *readers {
	return &readers{s: s, byPart: map[int32]*partReader{}}
}

// join attaches a resume of room, which has every event up to seq after, to
// its partition's reader, starting one if there is none: at start, an
// offset from which every later event of the room is read (0: the
// partition's start); anchored when start is known not to be past the next
// event (the partition's start).
func (rs *readers) join(ctx context.Context, room schemas.ID, after, start int64, anchored bool) *resumeSub {
	part := schemas.Partition(room, rs.s.parts)
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.byPart[part]
	if r == nil {
		r = newPartReader(rs.s, part)
		rs.byPart[part] = r
		// The reader outlives the resume that starts it: it ends when its
		// last resume leaves, not when this one's socket closes.
		go r.run(context.WithoutCancel(ctx))
	}
	return r.add(room, after, start, anchored)
}

func newPartReader(s *Service, part int32) *partReader {
	return &partReader{s: s, part: part, subs: map[*resumeSub]struct{}{}, byKey: map[string][]*resumeSub{},
		seekTo: -1, pos: -1, changed: make(chan struct{}, 1)}
}

// add attaches a resume to r (see readers.join).
func (r *partReader) add(room schemas.ID, after, start int64, anchored bool) *resumeSub {
	sub := &resumeSub{r: r, room: room, key: string(schemas.Key(room)), last: after, anchored: anchored, start: start, ready: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	sub.seekWait = r.pos >= 0 && start < r.pos
	r.subs[sub] = struct{}{}
	r.byKey[sub.key] = append(r.byKey[sub.key], sub)
	r.s.m.resumeSubs.Inc()
	r.wantLocked(start)
	return sub
}

// wantLocked asks the reader to read from offset at: it moves back there
// if it is past it (or has not started), interrupting its poll.
func (r *partReader) wantLocked(at int64) {
	if r.seekTo < 0 || at < r.seekTo {
		r.seekTo = at
	}
	if r.pos >= 0 && at < r.pos {
		r.kickLocked()
	}
	r.signalLocked()
}

// nextSeekLocked returns the offset the reader moves back to before its
// next poll (-1: it reads on), and gives the resumes that waited for that
// move (seekWait) the records from there on.
func (r *partReader) nextSeekLocked() int64 {
	seek := r.seekTo
	r.seekTo = -1
	if seek < 0 || seek >= r.pos {
		return -1
	}
	r.pos = seek
	for sub := range r.subs {
		if sub.seekWait && seek <= sub.start {
			sub.seekWait = false
		}
	}
	return seek
}

// kickLocked interrupts the reader's poll in flight, if any.
func (r *partReader) kickLocked() {
	if r.kick != nil {
		r.kick()
		r.kicked = true
	}
}

// signalLocked wakes the reader if it waits (for a slot, or while every
// resume it has is paused).
func (r *partReader) signalLocked() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitingLocked: no resume of the reader has room for more (each is paused,
// done, or holds half a buffer its catch-up has not taken), so a poll now
// would mostly be read for nobody and be read again once they have room.
// The wait holds no resume back: each has frames to work on, and the first
// take wakes the reader.
func (r *partReader) waitingLocked() bool {
	if len(r.subs) == 0 || r.seekTo >= 0 {
		return false
	}
	for sub := range r.subs {
		if !sub.paused && sub.err == nil && len(sub.frames) < resumeBuffer/2 {
			return false
		}
	}
	return true
}

// exitIfIdle ends the reader when no resume is left: it leaves the map
// first, so that a later join starts a new reader.
func (r *partReader) exitIfIdle() bool {
	rs := r.s.readers
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.subs) > 0 {
		return false
	}
	if rs.byPart[r.part] == r {
		delete(rs.byPart, r.part)
	}
	return true
}

// run is the reader's goroutine: it waits for a slot, opens its client at
// the lowest offset wanted, and polls until no resume is left.
func (r *partReader) run(ctx context.Context) {
	s := r.s
	for slot := false; !slot; {
		if r.exitIfIdle() {
			return
		}
		select {
		case s.catchUpSlots <- struct{}{}:
			slot = true
		case <-r.changed: // a resume joined or left: check again
		}
	}
	defer func() { <-s.catchUpSlots }()
	r.mu.Lock()
	start := max(r.seekTo, 0)
	r.seekTo, r.pos = -1, start
	r.mu.Unlock()
	cl, err := kgo.NewClient(append(s.kafkaOpts(),
		kgo.ClientID("happychat-realtime-resume"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Names.Rooms: {r.part: kgo.NewOffset().At(start)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// An offset below the log's start (retention deleted it) reads
		// from the start.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		// No fetch session: it saves little for one partition, and closing
		// a client that has one races in franz-go v1.22.3 (Close kills the
		// session, source.killSessionOnClose, while a fetch loop may still
		// be copying it into its next request, source.createReq: the race
		// detector caught it in TestRealtimeE2EResume). Without a session
		// Close has none to kill.
		kgo.DisableFetchSessions(),
	)...)
	if err != nil {
		r.failAll(fmt.Errorf("resume consumer: %w", err))
		return
	}
	s.m.readersOpened.Inc()
	s.m.readersOpen.Inc()
	defer func() {
		cl.Close()
		s.m.readersOpen.Dec()
	}()
	if h := s.cfg.hooks.readerOpened; h != nil {
		h(r.part)
	}
	for {
		if r.exitIfIdle() {
			return
		}
		r.mu.Lock()
		if r.waitingLocked() {
			r.mu.Unlock()
			<-r.changed // a take, a join or a leave
			continue
		}
		seek := r.nextSeekLocked()
		pctx, cancel := context.WithTimeout(ctx, catchUpPoll)
		r.kick, r.kicked = cancel, false
		r.mu.Unlock()
		if seek >= 0 {
			// Back to the lowest offset wanted. RemoveConsumePartitions
			// drops what is buffered and in flight for the partition, and
			// AddConsumePartitions consumes it again from the offset given
			// (both documented for direct consumers; SetOffsets would skip
			// a partition whose starting offset is still being loaded).
			topic := s.cfg.Names.Rooms
			cl.RemoveConsumePartitions(map[string][]int32{topic: {r.part}})
			cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {r.part: kgo.NewOffset().At(seek)}})
			s.m.readerSeeks.Inc()
		}
		// At most half a resume's buffer a poll, the rest staying buffered
		// in the client: between polls the catch-ups take what they were
		// given, so a resume that keeps up is never paused (a fetch can
		// hold thousands of one room's records).
		fetches := cl.PollRecords(pctx, resumeBuffer/2)
		cancel()
		r.deliver(ctx, fetches)
	}
}

// failAll ends a reader that could not start: every resume it has gets err
// (its catch-up then leaves), and a later join starts a new reader.
func (r *partReader) failAll(err error) {
	rs := r.s.readers
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if rs.byPart[r.part] == r {
		delete(rs.byPart, r.part)
	}
	for sub := range r.subs {
		if sub.err == nil {
			sub.err = err
		}
		sub.signal()
	}
}

// deliver hands one poll's records to the resumes of their rooms.
func (r *partReader) deliver(ctx context.Context, fetches kgo.Fetches) {
	s := r.s
	var fetchErr error
	fetches.EachError(func(_ string, _ int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && fetchErr == nil {
			fetchErr = err
		}
	})
	if fetchErr != nil {
		s.log.Warn("resume: read the log", "partition", r.part, "err", fetchErr)
	}
	n := fetches.NumRecords()
	s.m.readerRecords.Add(float64(n))
	opened := r.open(ctx, fetches)
	r.mu.Lock()
	defer r.mu.Unlock()
	for it := fetches.RecordIter(); !it.Done(); {
		rec := it.Next()
		r.pos = rec.Offset + 1
		subs := r.byKey[string(rec.Key)]
		if len(subs) == 0 {
			continue
		}
		d, ok := opened[rec.Offset]
		if !ok {
			// A resume of this room joined since open: decode it now.
			d = r.decode(ctx, rec.Value)
		}
		env, derr := d.env, d.err
		if derr != nil && !errors.Is(derr, errOpenTexts) {
			s.m.decodeErrors.Inc()
		}
		var f *frame
		for _, sub := range subs {
			if sub.err != nil || sub.paused || sub.seekWait {
				continue
			}
			if errors.Is(derr, errOpenTexts) {
				// The key store did not answer: the resume fails (the
				// client resumes again) rather than skip a message.
				sub.err = derr
				continue
			}
			if derr != nil {
				// An event of the room this build does not know, which the
				// client still needs: delivering what follows would skip it.
				if _, seq, ok := schemas.RoomSeqOf(rec.Value); ok && seq > sub.last && errors.Is(derr, schemas.ErrUnknownEvent) {
					sub.err = fmt.Errorf("%w: seq %d: %w", errUnknownEvent, seq, derr)
				}
				continue
			}
			if env.RoomID != sub.room {
				continue
			}
			if env.Seq <= sub.last+1 {
				sub.anchored = true
			}
			if env.Seq <= sub.last {
				continue
			}
			if env.Seq != sub.last+1 {
				if !sub.anchored {
					sub.err = errLocatedTooLate
					continue
				}
				s.m.gaps.Inc()
				s.log.Error("gap in a room's seq on the log (resume)", "room", sub.room, "after", sub.last, "got", env.Seq)
			}
			if len(sub.frames) >= resumeBuffer {
				sub.paused, sub.next = true, rec.Offset
				continue
			}
			if f == nil {
				var err error
				if f, err = renderEvent(env, s.cfg.Rules); err != nil {
					sub.err = fmt.Errorf("render seq %d: %w", env.Seq, err)
					f = nil
					continue
				}
			}
			sub.frames = append(sub.frames, f)
			sub.last = env.Seq
		}
	}
	// A poll that a join or a leave interrupted says nothing about the log.
	if n == 0 && r.kicked {
		return
	}
	for sub := range r.subs {
		if sub.seekWait {
			continue // the poll read past its start: it says nothing to it
		}
		if n == 0 {
			sub.emptyPolls++
		} else {
			sub.emptyPolls = 0
		}
		sub.polled = true
		sub.signal()
	}
}
