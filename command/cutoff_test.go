package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/netfault"
	"happychat/schemas"
)

// An owner cut off from the brokers (issue 14, the fault suite's
// network-partition): its writes hang until franz-go's request timeouts
// give up, and it used to hold every command of its partitions that long
// (about 12 s) before answering. These tests cut one instance off through
// Toxiproxy (internal/netfault) on the single broker; the other instance
// and the test's own clients dial the broker directly.

// cutTestWrite is the instances' write timeout here: the cut is held
// cutHold, ten times as long, so a command answered only when the cut is
// healed (or when franz-go gives up, 20 s for a produce) is not answered
// during it.
const (
	cutTestWrite = time.Second
	cutHold      = 10 * cutTestWrite
)

// throughProxies makes an instance dial every broker address through its
// proxy (what the binary's CHAT_KAFKA_DIAL_MAP does), returning the
// proxies to cut.
func throughProxies(t *testing.T, c *cluster) (*netfault.Proxies, func(*Config)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := c.admin.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ups []string
	for _, b := range md.Brokers {
		ups = append(ups, net.JoinHostPort(b.Host, fmt.Sprint(b.Port)))
	}
	ups = append(ups, c.brokers...) // the seeds, if spelt otherwise
	px, err := netfault.Open(dedupeStrings(ups))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	to := px.Targets()
	d := &net.Dialer{Timeout: 5 * time.Second}
	return px, func(cfg *Config) {
		cfg.WriteTimeout = cutTestWrite
		logged(cfg)
		cfg.KafkaOpts = append(cfg.KafkaOpts, kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			if p, ok := to[host]; ok {
				host = p
			}
			return d.DialContext(ctx, network, host)
		}))
	}
}

func dedupeStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// answers counts what one sequential sender was answered.
type answers struct {
	mu sync.Mutex
	// during counts the answers that arrived while the cut held, by code
	// ("" for a 2xx); noRetryAfter, the 503s among them without a wait.
	during       map[schemas.Code]int
	noRetryAfter int
	acked        map[string]schemas.ID // client_msg_id -> message id
	refused      []string              // answered 503: retried after the heal
}

// sendDuring sends one message after the other to room through in until
// stop is closed, each with a client deadline far beyond the cut, waiting
// as long as a 503's Retry-After says before the next.
func sendDuring(in *instance, user Caller, room schemas.ID, prefix string, cut func() bool, stop <-chan struct{}, wg *sync.WaitGroup) *answers {
	a := &answers{during: map[schemas.Code]int{}, acked: map[string]schemas.ID{}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint(prefix, i)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			m, err := in.svc.Send(ctx, user, room, "during the cut "+id, id)
			cancel()
			held := cut()
			a.mu.Lock()
			var e *schemas.Error
			switch {
			case err == nil:
				a.acked[id] = m.ID
			case errors.As(err, &e):
				a.refused = append(a.refused, id)
				if held && e.Code == schemas.CodeUnavailable && e.RetryAfter <= 0 {
					a.noRetryAfter++
				}
			default:
				a.refused = append(a.refused, id)
			}
			if held {
				a.during[code(err)]++
			}
			a.mu.Unlock()
			if e != nil && e.RetryAfter > 0 {
				// As the contract asks of a client.
				select {
				case <-stop:
					return
				case <-time.After(e.RetryAfter):
				}
			}
		}
	}()
	return a
}

func (a *answers) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, k := range a.during {
		n += k
	}
	return n
}

func TestCutOffOwnerAnswersWithinTheWriteTimeout(t *testing.T) {
	c := newCluster(t, 2)
	px, viaProxies := throughProxies(t, c)
	a := c.startWith(0, viaProxies)
	b := c.startWith(1, func(cfg *Config) { cfg.WriteTimeout = cutTestWrite; logged(cfg) })
	c.waitOwned(a, b)

	// A room on a partition a owns, with two members.
	var room schemas.ID
	for i := 0; room == 0 && i < 50; i++ {
		r := c.openRoom(b, fmt.Sprint("cut ", i))
		if a.svc.ownerOf(schemas.Partition(r, c.parts)) != nil {
			room = r
		}
	}
	if room == 0 {
		t.Fatal("no room landed on the cut instance's partition")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ua, ub := testCaller(31, "ua"), testCaller(32, "ub")
	c.join(ctx, b, ua, room)
	c.join(ctx, b, ub, room)
	before := sendN(t, a, ua, room, 5)

	// Cut a off, and send through a (its own partition: local) and
	// through b (forwarded to a until the partition moves to b).
	var (
		mu   sync.Mutex
		held bool
		wg   sync.WaitGroup
	)
	isCut := func() bool { mu.Lock(); defer mu.Unlock(); return held }
	stop := make(chan struct{})
	mu.Lock()
	if err := px.Cut(); err != nil {
		t.Fatal(err)
	}
	held = true
	mu.Unlock()
	viaA := sendDuring(a, ua, room, "via-a-", isCut, stop, &wg)
	viaB := sendDuring(b, ub, room, "via-b-", isCut, stop, &wg)
	time.Sleep(cutHold)
	mu.Lock()
	held = false
	close(stop)
	if err := px.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Unlock()
	wg.Wait()

	// Every command was answered within the bound: a sender answered
	// only at the heal (or after franz-go's 20 s) got one answer at most
	// during the cut, one every write timeout or so gets several.
	t.Logf("answers during the %v cut: through the cut-off owner %v, through the other instance %v", cutHold, viaA.during, viaB.during)
	for name, s := range map[string]*answers{"the cut-off owner": viaA, "the other instance": viaB} {
		if n := s.total(); n < 3 {
			t.Errorf("through %s: %d answers during the cut, want several (each within the write timeout)", name, n)
		}
		for k, n := range s.during {
			if k != "" && k != schemas.CodeUnavailable {
				t.Errorf("through %s: %d answers %q during the cut, want only 201 or 503", name, n, k)
			}
		}
		if s.noRetryAfter > 0 {
			t.Errorf("through %s: %d answers 503 without Retry-After", name, s.noRetryAfter)
		}
	}
	if n := viaA.during[""]; n > 0 {
		// The cut-off owner cannot commit: a 2xx from it would be an
		// acknowledgement of something it could not write (checked
		// against the log below anyway).
		t.Errorf("the cut-off owner acknowledged %d sends during the cut", n)
	}

	// After the heal, every refused send is retried with its
	// client_msg_id until acknowledged.
	acked := map[string]schemas.ID{}
	for k, v := range before {
		acked["ua/"+k] = v
	}
	for _, s := range []struct {
		in   *instance
		user Caller
		key  string
		a    *answers
	}{{a, ua, "ua/", viaA}, {b, ub, "ub/", viaB}} {
		for id, m := range s.a.acked {
			acked[s.key+id] = m
		}
		for _, id := range s.a.refused {
			m, err := retry(t, func() (schemas.Message, error) { return s.in.svc.Send(ctx, s.user, room, "during the cut "+id, id) })
			if err != nil {
				t.Fatalf("retry of %s after the heal: %v", id, err)
			}
			if prev, ok := acked[s.key+id]; ok && prev != m.ID {
				t.Fatalf("%s acknowledged as %d, then as %d", id, prev, m.ID)
			}
			acked[s.key+id] = m.ID
		}
	}

	// Nothing acknowledged is lost, nothing is appended twice, the room's
	// seq is gap-free (checkRoomLog).
	events := c.readAll()
	checkRoomLog(t, events, 20)
	inLog := map[string]schemas.ID{}
	for _, e := range events {
		if m, ok := e.Payload.(schemas.MessageSent); ok && e.RoomID == room {
			inLog[map[schemas.ID]string{ua.UserID: "ua/", ub.UserID: "ub/"}[e.UserID]+m.ClientMsgID] = e.ID
		}
	}
	for k, id := range acked {
		if got, ok := inLog[k]; !ok || got != id {
			t.Errorf("acknowledged send %s (id %d) is not in the log as such (found %d)", k, id, got)
		}
	}
	if len(inLog) != len(acked) {
		t.Errorf("%d sends in the log, %d acknowledged: every send was retried until acknowledged", len(inLog), len(acked))
	}
}

// A commit that cannot reach the brokers is never acknowledged: the send
// is answered 503 within the write timeout, the owner settles the
// transaction once it can (franz-go's TryAbort), and the client's retry
// with the same client_msg_id is appended once.
func TestCommitCutOffIsAnsweredAndAppendedOnceOnRetry(t *testing.T) {
	c := newCluster(t, 1)
	px, viaProxies := throughProxies(t, c)
	var arm sync.Mutex
	armed := false
	a := c.startWith(0, func(cfg *Config) {
		viaProxies(cfg)
		cfg.hooks.beforeCommit = func(int32) {
			arm.Lock()
			defer arm.Unlock()
			if armed {
				armed = false
				if err := px.Cut(); err != nil {
					t.Error(err)
				}
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	room, user := c.soleOwnerRoom(ctx, a, "commit cut", 41)
	gen := moves(a)
	arm.Lock()
	armed = true
	arm.Unlock()
	answered := make(chan error, 1)
	go func() {
		_, err := a.svc.Send(ctx, user, room, "cut at the commit", "cut")
		answered <- err
	}()
	select {
	case err := <-answered:
		var e *schemas.Error
		if !errors.As(err, &e) || e.Code != schemas.CodeUnavailable || e.RetryAfter <= 0 {
			t.Fatalf("the send whose commit was cut off answered %v, want 503 with Retry-After", err)
		}
	case <-time.After(cutHold):
		t.Fatalf("the send whose commit was cut off was not answered while the cut held (%v)", cutHold)
	}
	if err := px.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, user, room, "cut at the commit", "cut") })
	if err != nil {
		t.Fatalf("retry after the heal: %v", err)
	}
	if _, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, user, room, "next", "next") }); err != nil {
		t.Fatal(err)
	}
	events := c.readAll()
	checkRoomLog(t, events, 20)
	onceInLog(t, events, "cut", m.ID)
	t.Logf("partition moves %v -> %v, owner restarts %v", gen, moves(a), testutil.ToFloat64(a.svc.metrics.ownerRestarts))
}
