// A resume's side of a shared reader (readers.go): its place at the
// reader, what the catch-up takes from it, and leaving.

package realtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// resumeSub is one resume's place at a reader. Guarded by its reader's mu.
type resumeSub struct {
	r    *partReader
	room schemas.ID
	key  string
	// last is the seq of the last frame put in frames (at join: the last
	// one the socket has).
	last int64
	// anchored: an event at or before the next seq was seen (or reading
	// began at the partition's start), so a later jump in seq is a gap in
	// the log itself, not a wrong starting point.
	anchored bool
	// start is the offset this resume must be read from; seekWait is set
	// while the reader is past it: records it already fetched further on
	// are not this resume's until it moved back (run's seek), or an
	// anchored resume would take a later seq for a gap in the log.
	start    int64
	seekWait bool
	frames   []*frame
	// paused: frames was full when the record at offset next came; nothing
	// more is buffered until the catch-up takes the frames.
	paused bool
	next   int64
	// polled: the reader polled since the last take; emptyPolls counts its
	// polls in a row that found nothing at all.
	polled     bool
	emptyPolls int
	err        error
	ready      chan struct{} // capacity 1: something to take
	left       bool
}

// leave detaches sub from its reader (idempotent); the last one to leave
// makes the reader close.
func (sub *resumeSub) leave() {
	if sub == nil {
		return
	}
	r := sub.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if sub.left {
		return
	}
	sub.left = true
	sub.frames = nil
	delete(r.subs, sub)
	keyed := r.byKey[sub.key]
	for i, o := range keyed {
		if o == sub {
			keyed = append(keyed[:i], keyed[i+1:]...)
			break
		}
	}
	if len(keyed) == 0 {
		delete(r.byKey, sub.key)
	} else {
		r.byKey[sub.key] = keyed
	}
	r.s.m.resumeSubs.Dec()
	if len(r.subs) == 0 {
		r.kickLocked()
	}
	r.signalLocked()
}

// take waits until the reader has polled for sub since the last take (or
// found an error for it) and returns the frames buffered since, in seq
// order, how many polls in a row found nothing at all, and sub's error (it
// is then done: the caller leaves). A paused sub is resumed: the reader
// goes back to the first record it missed.
func (sub *resumeSub) take(ctx context.Context) ([]*frame, int, error) {
	r := sub.r
	for {
		r.mu.Lock()
		if sub.polled || len(sub.frames) > 0 || sub.err != nil {
			frames, empty, err := sub.frames, sub.emptyPolls, sub.err
			sub.frames, sub.polled = nil, false
			if sub.paused && err == nil {
				sub.paused = false
				r.wantLocked(sub.next)
			} else if len(frames) > 0 {
				r.signalLocked() // room again: a waiting reader may poll
			}
			r.mu.Unlock()
			return frames, empty, err
		}
		r.mu.Unlock()
		select {
		case <-sub.ready:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

func (sub *resumeSub) signal() {
	select {
	case sub.ready <- struct{}{}:
	default:
	}
}

// errOpenTexts wraps a key store failure while opening sealed texts.
var errOpenTexts = errors.New("open message texts")

// decoded is a record of a resume's poll, decoded and its texts opened.
type decoded struct {
	env schemas.Envelope
	err error
}

// open decodes the poll's records of rooms with resumes and opens their
// sealed texts with one key lookup, outside the reader's lock (it may wait
// on PostgreSQL). When the key store fails, every record of the poll
// carries its error (wrapping errOpenTexts).
func (r *partReader) open(ctx context.Context, fetches kgo.Fetches) map[int64]decoded {
	r.mu.Lock()
	keys := make(map[string]bool, len(r.byKey))
	for k, subs := range r.byKey {
		keys[k] = len(subs) > 0
	}
	r.mu.Unlock()
	out := map[int64]decoded{}
	var (
		envs []schemas.Envelope
		offs []int64
	)
	for it := fetches.RecordIter(); !it.Done(); {
		rec := it.Next()
		if !keys[string(rec.Key)] {
			continue
		}
		env, err := schemas.Events.Decode(rec.Value)
		out[rec.Offset] = decoded{env: env, err: err}
		if err == nil {
			envs, offs = append(envs, env), append(offs, rec.Offset)
		}
	}
	if err := r.s.cfg.MessageKeys.Open(ctx, envs); err != nil {
		for _, off := range offs {
			out[off] = decoded{err: fmt.Errorf("%w: %w", errOpenTexts, err)}
		}
		return out
	}
	for i, off := range offs {
		out[off] = decoded{env: envs[i]}
	}
	return out
}

// decode decodes and opens one record (under the reader's lock: rare).
func (r *partReader) decode(ctx context.Context, value []byte) decoded {
	env, err := schemas.Events.Decode(value)
	if err != nil {
		return decoded{env: env, err: err}
	}
	if err := r.s.cfg.MessageKeys.OpenOne(ctx, &env); err != nil {
		return decoded{err: fmt.Errorf("%w: %w", errOpenTexts, err)}
	}
	return decoded{env: env}
}
