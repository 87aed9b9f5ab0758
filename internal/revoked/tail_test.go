package revoked

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/testenv"
	"happychat/schemas"
	"happychat/schemas/token"
)

// TestTail (real Kafka): the tail starts at now − Window (a revocation
// older than that is not read, a recent one is), reads only session.revoked
// (another event is skipped, an unreadable revocation is logged and does
// not stop it), is ready exactly once it has read up to the end offsets of
// its start, and then applies live revocations, calling the watchers.
func TestTail(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.RandomName("revoked-test-")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic) })

	now := time.Now()
	const window = time.Hour
	seq := int64(0)
	record := func(user schemas.ID, at time.Time, ev schemas.Event) *kgo.Record {
		seq++
		v, err := schemas.Events.Encode(schemas.Envelope{ID: schemas.ID(7267000000000000000 + seq), UserID: user, OccurredAt: at, Payload: ev})
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Key: schemas.Key(user), Value: v, Timestamp: at, Headers: []kgo.RecordHeader{
			{Key: schemas.HeaderType, Value: []byte(ev.EventType())},
			{Key: schemas.HeaderVersion, Value: []byte(strconv.Itoa(schemas.Events.Version(ev.EventType())))},
		}}
	}
	revoke := func(user schemas.ID, sid string, at time.Time) *kgo.Record {
		// Every revocation here revokes a token that is still valid, so
		// only the window decides whether the tail holds it.
		return record(user, at, schemas.SessionRevoked{SessionID: sid, ExpiresAt: schemas.FormatTime(now.Add(24 * time.Hour))})
	}
	garbage := &kgo.Record{Key: []byte("9"), Value: []byte("{not json"), Timestamp: now,
		Headers: []kgo.RecordHeader{{Key: schemas.HeaderType, Value: []byte(schemas.TypeSessionRevoked)}}}
	// In time order, as producers append them: Kafka's offset for a
	// timestamp is the first record at or after it, and the tail reads on
	// from there whatever the later records' timestamps.
	var old, recent []*kgo.Record
	for i := range 20 {
		u := schemas.ID(100 + i)
		old = append(old, revoke(u, "old", now.Add(-2*window)))
		recent = append(recent,
			revoke(u, "recent", now.Add(-10*time.Minute)),
			record(u, now.Add(-time.Minute), schemas.UserRegistered{Nickname: "n"}))
	}
	for _, batch := range [][]*kgo.Record{old, append(recent, garbage)} {
		if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	set := NewSet(nil)
	var watched atomic.Int64
	set.Watch(func(schemas.ID) { watched.Add(1) })
	done := make(chan error, 1)
	tctx, stop := context.WithCancel(ctx)
	go func() {
		done <- Tail(tctx, TailConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Topic: topic, Window: window, Set: set})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Tail: %v", err)
		}
	}()
	for set.Ready(ctx) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("the tail never caught up")
		case err := <-done:
			t.Fatalf("Tail ended before it caught up: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Ready means everything produced before the start has been read.
	for i := range 20 {
		u := schemas.ID(100 + i)
		if err := set.Check(token.Claims{UserID: u, SessionID: "recent"}); !errors.Is(err, token.ErrRevoked) {
			t.Fatalf("user %d: a revocation inside the window not held when ready: %v", u, err)
		}
		if err := set.Check(token.Claims{UserID: u, SessionID: "old"}); err != nil {
			t.Fatalf("user %d: a revocation older than the window was read: %v", u, err)
		}
	}
	if n := set.Len(); n != 20 {
		t.Fatalf("%d revocations held, want 20", n)
	}
	if n := watched.Load(); n != 20 {
		t.Fatalf("watchers called %d times, want 20", n)
	}

	if err := cl.ProduceSync(ctx, revoke(500, "live", time.Now())).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for watched.Load() < 21 {
		select {
		case <-ctx.Done():
			t.Fatal("a live revocation never arrived")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := set.Check(token.Claims{UserID: 500, SessionID: "live"}); !errors.Is(err, token.ErrRevoked) {
		t.Fatalf("the live revocation is not held once watched: %v", err)
	}
}
