package command

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// A command waits on its owner at most the write timeout, whatever the
// owner does; the answer says whether it was never decided (a clean retry)
// or is in a write whose outcome is unknown. Pure logic: the owner's
// goroutine is played by the test.
func TestSubmitWaitsAtMostTheWriteTimeout(t *testing.T) {
	const wait = 20 * time.Millisecond
	newTestOwner := func() *owner {
		o := &owner{svc: &Service{cfg: Config{WriteTimeout: wait}}, reqs: make(chan *request, 1), done: make(chan struct{})}
		o.ready.Store(true)
		return o
	}
	cases := []struct {
		name string
		// owner plays the owner's goroutine with the queued request.
		owner   func(r *request)
		cancel  bool // the caller goes away
		message string
		retry   bool // a Retry-After is given
		state   int32
	}{
		{"never taken", func(*request) {}, false, "busy", true, reqAbandoned},
		{"taken, never answered", func(r *request) { r.state.CompareAndSwap(reqQueued, reqTaken) }, false, "did not confirm the write in time", true, reqTaken},
		{"taken and answered", func(r *request) {
			r.state.CompareAndSwap(reqQueued, reqTaken)
			r.done <- reply{res: Result{Seq: 7}}
		}, false, "", false, reqTaken},
		{"caller gone before it was taken", func(*request) {}, true, "request cancelled", false, reqAbandoned},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newTestOwner()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			queued := make(chan *request, 1)
			go func() {
				r := <-o.reqs
				tc.owner(r)
				if tc.cancel {
					cancel()
				}
				queued <- r
			}()
			res, err := o.submit(ctx, Command{Kind: KindSend})
			// What the owner's goroutine finds when it reaches the request:
			// an abandoned one is skipped, never decided.
			if s := (<-queued).state.Load(); s != tc.state {
				t.Fatalf("request state %d, want %d", s, tc.state)
			}
			if tc.message == "" {
				if err != nil || res.Seq != 7 {
					t.Fatalf("answered %+v, %v; want the owner's result", res, err)
				}
				return
			}
			var e *schemas.Error
			if !errors.As(err, &e) || e.Code != schemas.CodeUnavailable || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("answered %v, want 503 %q", err, tc.message)
			}
			if (e.RetryAfter > 0) != tc.retry {
				t.Fatalf("Retry-After %v, want one: %v", e.RetryAfter, tc.retry)
			}
		})
	}
}

// An owner recovering from a failed write answers at once: the command is
// not queued behind the recovery, whose end it could only wait for.
func TestSubmitToARecoveringOwnerIsNotQueued(t *testing.T) {
	o := &owner{svc: &Service{cfg: Config{WriteTimeout: time.Hour}}, reqs: make(chan *request, 1), done: make(chan struct{})}
	o.ready.Store(true)
	o.recovering.Store(true)
	_, err := o.submit(context.Background(), Command{Kind: KindSend})
	var e *schemas.Error
	if !errors.As(err, &e) || e.Code != schemas.CodeUnavailable || e.RetryAfter <= 0 {
		t.Fatalf("answered %v, want 503 with Retry-After", err)
	}
	if n := len(o.reqs); n != 0 {
		t.Fatalf("%d commands queued for a recovering owner", n)
	}
}
