package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"happychat/schemas"
)

// room is a room of a scenario with its members.
type room struct {
	id      schemas.ID
	members []*user
	// private rooms are entered by invite (setupRooms).
	private bool
	invite  string
}

// ledger records every send of a scenario: what was asked, what each
// attempt answered, and how it ended. It is what the log is checked
// against.
type ledger struct {
	mu    sync.Mutex
	sends []*timedSend
	// started maps client_msg_id to the time of the first attempt, for the
	// send → deliver latency measured by the sockets.
	started sync.Map
	// last and changes are the load's changes of messages (changes.go).
	last    lastSent
	changes []*Change
}

func (l *ledger) addChange(c *Change) {
	l.mu.Lock()
	l.changes = append(l.changes, c)
	l.mu.Unlock()
}

// changesSnapshot returns the changes recorded so far.
func (l *ledger) changesSnapshot() []*Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Change(nil), l.changes...)
}

// timedSend is a Send with the times and targets of its attempts.
type timedSend struct {
	Send
	start, acked time.Time
	attempts     []attempt
}

// attempt is one HTTP request of a send: its answer, which command
// instance it went to (index in api.commands), and when it was answered.
type attempt struct {
	status int
	target int
	at     time.Time
}

func (l *ledger) add(s *timedSend) {
	l.mu.Lock()
	l.sends = append(l.sends, s)
	l.mu.Unlock()
}

// snapshot returns the sends recorded so far.
func (l *ledger) snapshot() []*timedSend {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*timedSend(nil), l.sends...)
}

func (l *ledger) plain() []*Send {
	var out []*Send
	for _, s := range l.snapshot() {
		out = append(out, &s.Send)
	}
	return out
}

// sendOnce sends one message as a careful client does: it retries with the
// same client_msg_id on every answer that does not settle it (no answer,
// 503, 429), alternating command instances, until acknowledged, refused, or
// out of time.
func (a *api) sendOnce(ctx context.Context, l *ledger, u *user, r schemas.ID, body string, timeout time.Duration) *timedSend {
	s := &timedSend{Send: Send{Room: r, User: u.id, ClientMsgID: uuid.NewString()}, start: time.Now()}
	l.started.Store(s.ClientMsgID, s.start)
	defer l.add(s)
	in := map[string]string{"body": body, "client_msg_id": s.ClientMsgID}
	path := "/v1/rooms/" + r.String() + "/messages"
	deadline := s.start.Add(timeout)
	for try := 0; ; try++ {
		target, base := a.command(try)
		ans := a.do(ctx, http.MethodPost, base+path, u.token, in)
		s.Statuses = append(s.Statuses, ans.status)
		s.attempts = append(s.attempts, attempt{status: ans.status, target: target, at: time.Now()})
		if ans.status == http.StatusCreated {
			var m schemas.Message
			if err := ans.decode(&m); err != nil || m.ClientMsgID != s.ClientMsgID || m.RoomID != r {
				// A 201 the client cannot read is not an acknowledgement
				// it can rely on; the log check still counts duplicates.
				s.Outcome = Indeterminate
				return s
			}
			s.Outcome, s.AckID, s.AckSeq, s.AckBody, s.acked = Acked, m.ID, m.Seq, m.Body, time.Now()
			l.last.set(u.id, r, m.ID)
			return s
		}
		if !ans.retryable() {
			s.Outcome = Failed
			return s
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Outcome = Failed
			if ans.status == 0 {
				s.Outcome = Indeterminate
			}
			return s
		}
		select {
		case <-ctx.Done():
		case <-time.After(ans.pause(try)):
		}
	}
}

// loadSpec is a stream of sends over the members of some rooms.
type loadSpec struct {
	rooms   []*room
	workers int
	// count stops the load after that many sends (0: until stop closes).
	count int
	// rate paces the sends (per second, all workers together; 0: as fast
	// as the system answers).
	rate float64
	// body makes the n-th body.
	body func(n int) string
	// timeout bounds one send's retries.
	timeout time.Duration
	// changes makes every changeEvery-th operation a change of a message
	// (changes.go) where its member has one; reads another a move of the
	// member's read mark.
	changes, reads bool
}

// runLoad sends until spec.count sends were made or stop is closed; sends
// in flight then finish (or time out) before it returns. ctx aborts
// everything.
func (a *api) runLoad(ctx context.Context, l *ledger, spec loadSpec, stop <-chan struct{}) {
	type slot struct {
		u *user
		r schemas.ID
	}
	var slots []slot
	// Interleave rooms so that every moment touches every room.
	for i := 0; ; i++ {
		added := false
		for _, r := range spec.rooms {
			if i < len(r.members) {
				slots = append(slots, slot{r.members[i], r.id})
				added = true
			}
		}
		if !added {
			break
		}
	}
	if len(slots) == 0 {
		return
	}
	var lim *rate.Limiter
	if spec.rate > 0 {
		lim = rate.NewLimiter(rate.Limit(spec.rate), max(1, int(spec.rate/20)))
	}
	var (
		mu   sync.Mutex
		next int
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if spec.count > 0 && next >= spec.count {
			return 0, false
		}
		select {
		case <-stop:
			return 0, false
		default:
		}
		next++
		return next - 1, true
	}
	var wg sync.WaitGroup
	for range spec.workers {
		wg.Go(func() {
			for {
				if lim != nil {
					if err := lim.Wait(ctx); err != nil {
						return
					}
				}
				n, ok := take()
				if !ok || ctx.Err() != nil {
					return
				}
				sl := slots[n%len(slots)]
				if (spec.changes && n%changeEvery == changeEvery-1 || spec.reads && n%changeEvery == readOffset) &&
					a.changeOnce(ctx, l, sl.u, sl.r, n, spec.timeout) {
					continue
				}
				a.sendOnce(ctx, l, sl.u, sl.r, spec.body(n), spec.timeout)
			}
		})
	}
	wg.Wait()
}

// defaultBody is a short message with 4-byte UTF-8 and CJK in it.
func defaultBody(scenario string) func(int) string {
	return func(n int) string { return fmt.Sprintf("%s #%d 🎉 축하 ✓", scenario, n) }
}

// largeBody is a message of about size code points of 4-byte UTF-8 (for
// the slow reader: few frames fill the buffers).
func largeBody(scenario string, size int) func(int) string {
	return func(n int) string {
		head := fmt.Sprintf("%s #%d ", scenario, n)
		return head + strings.Repeat("😀", max(1, size-len(head)))
	}
}
