// How a command reaches its owner and how long it waits there: the
// request's states, the bounded wait (Config.WriteTimeout) and the 503s
// that end it. The owner's loop that takes requests is owner.go.

package command

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"happychat/schemas"
)

type reply struct {
	res Result
	err error
}

// A request's state: queued until the owner takes it into a batch, or
// abandoned by its caller when its wait ends first. Exactly one of the
// two happens, so a caller that gave up knows whether its command was
// never decided (a clean retry) or is in a write whose outcome it will not
// learn (the retry finds the original through the dedupe if it committed).
const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

type request struct {
	ctx   context.Context
	cmd   Command
	done  chan reply // buffered: the owner never blocks on a gone caller
	state atomic.Int32
	at    time.Time // when it was queued
}

// retryAfter is the Retry-After of a command that waited on its owner for
// the write timeout: by then the partition is moving (a cut-off owner
// loses it after the session timeout) or the owner is recovering, and a
// retry a second later finds the new owner or the recovered one.
const retryAfter = time.Second

// errWaitedTooLong is the cause of a command's wait ending at the write
// timeout (Config.WriteTimeout), as opposed to its caller going away.
var errWaitedTooLong = errors.New("the command waited on its owner for the write timeout")

// retryLater is a 503 that tells the client when to retry.
func retryLater(msg string) *schemas.Error {
	e := unavailable(msg)
	e.RetryAfter = retryAfter
	return e
}

// submit hands a command to the owner and waits for its answer, at most
// the write timeout in all (Config.WriteTimeout): an owner that is taking
// over (or over again, after a failure) is waited for within it, and a
// command is never left waiting on an owner whose writes hang (cut off
// from the brokers, its coordinator gone): it is answered 503 with
// Retry-After, and the client retries on the partition's next owner or on
// this one once it has recovered.
func (o *owner) submit(ctx context.Context, cmd Command) (Result, error) {
	if o.recovering.Load() {
		return Result{}, retryLater("the room's server is recovering from a failed write, retry")
	}
	ctx, cancel := context.WithTimeoutCause(ctx, o.svc.cfg.WriteTimeout, errWaitedTooLong)
	defer cancel()
	if err := o.waitReady(ctx); err != nil {
		return Result{}, err
	}
	r := &request{ctx: ctx, cmd: cmd, done: make(chan reply, 1), at: time.Now()}
	select {
	case o.reqs <- r:
	case <-o.done:
		return Result{}, errNotOwner
	case <-ctx.Done():
		return Result{}, waitEnded(ctx, "the room's server is busy, retry")
	}
	select {
	case rep := <-r.done:
		return rep.res, rep.err
	case <-o.done:
		// The owner stopped; it answers every request it took before that.
		select {
		case rep := <-r.done:
			return rep.res, rep.err
		default:
			return Result{}, errNotOwner
		}
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			// Never decided: the owner will skip it.
			return Result{}, waitEnded(ctx, "the room's server is busy, retry")
		}
		select {
		case rep := <-r.done: // answered at the same moment
			return rep.res, rep.err
		default:
		}
		// In a batch whose write is not confirmed: its outcome is unknown
		// here, never a 2xx. The owner settles it before its next batch,
		// so a retry returns the original message if it committed.
		if context.Cause(ctx) == errWaitedTooLong { //nolint:errorlint // the sentinel itself
			return Result{}, retryLater("the event log did not confirm the write in time, retry")
		}
		return Result{}, unavailable("request cancelled before the append was confirmed")
	}
}

// waitEnded is the answer to a command whose wait ended before the owner
// took it: the write timeout passed (503, retry later) or its caller went
// away.
func waitEnded(ctx context.Context, msg string) *schemas.Error {
	if context.Cause(ctx) == errWaitedTooLong { //nolint:errorlint // the sentinel itself
		return retryLater(msg)
	}
	return unavailable("request cancelled")
}

func (o *owner) waitReady(ctx context.Context) error {
	if o.ready.Load() {
		return nil
	}
	deadline := time.NewTimer(ownerWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !o.ready.Load() {
		if err := o.svc.fold.parts[o.part].blockedErr(); err != nil {
			return unavailable("this room's log holds an event this server cannot read yet, retry later")
		}
		select {
		case <-tick.C:
		case <-o.done:
			return errNotOwner
		case <-ctx.Done():
			return waitEnded(ctx, "the room's server is taking over the room, retry")
		case <-deadline.C:
			return retryLater("the room's server is taking over the room, retry")
		}
	}
	return nil
}
