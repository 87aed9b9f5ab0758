package command

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/cmdproto"
	"happychat/internal/logread"
	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// TestInternalSendCarriesItsKeys: a send a realtime service makes on the
// internal listener with its secret is answered with the keys its text was
// sealed under (cmdproto.KeysHeader), and those keys alone open the
// message as the log holds it, and with the committed record itself
// (cmdproto.CommittedHeader), byte for byte the log's; without the secret,
// neither.
func TestInternalSendCarriesItsKeys(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := SetFeatureLevel(ctx, c.store, c.names, sealLevel); err != nil {
		t.Fatal(err)
	}
	const presence = testSecret + "-presence"
	a := c.startWith(0, func(cfg *Config) { cfg.PresenceSecret = presence })
	c.waitOwned(a)
	room := c.openRoom(a, "keys handoff")
	author := testCaller(41, "author")
	c.join(ctx, a, author, room)

	gin.SetMode(gin.ReleaseMode)
	internal := gin.New()
	a.svc.InternalRoutes(internal)
	srv := httptest.NewServer(internal)
	defer srv.Close()
	var recs []*kgo.Record // the committed records of the last send
	send := func(secret, text, id string) (schemas.Message, []msgkeys.Key) {
		t.Helper()
		cl, err := cmdproto.NewClient(srv.URL, secret)
		if err != nil {
			t.Fatal(err)
		}
		var got []msgkeys.Key
		recs = nil
		cl.OnKeys = func(k []msgkeys.Key) { got = append(got, k...) }
		cl.OnCommitted = func(r []*kgo.Record) {
			if len(got) == 0 {
				t.Error("records handed over before the keys that open them")
			}
			recs = append(recs, r...)
		}
		m, err := retry(t, func() (schemas.Message, error) { return cl.Send(ctx, author.Token, room, text, id) })
		if err != nil {
			t.Fatal(err)
		}
		return m, got
	}

	const text = "sealed for the handoff 5c1d"
	m, keys := send(presence, text, "h1")
	if len(keys) != 1 || keys[0].Message != m.ID {
		t.Fatalf("keys %+v for message %d", keys, m.ID)
	}
	// The answer carries the record exactly as the log holds it, where the
	// log holds it: what local delivery shows is what the tail would.
	if len(recs) != 1 {
		t.Fatalf("%d committed records with the answer, want 1", len(recs))
	}
	var logged *kgo.Record
	err := logread.Read(ctx, c.brokers, c.names.Rooms, logread.HighWatermark, func(r *kgo.Record) error {
		if r.Partition == recs[0].Partition && r.Offset == recs[0].Offset {
			logged = r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if logged == nil || !bytes.Equal(logged.Value, recs[0].Value) || !bytes.Equal(logged.Key, recs[0].Key) {
		t.Fatalf("record %d/%d with the answer is not the log's (%v)", recs[0].Partition, recs[0].Offset, logged)
	}
	if e, err := schemas.Events.Decode(recs[0].Value); err != nil || e.ID != m.ID || e.Seq != m.Seq {
		t.Fatalf("record with the answer: %+v %v, answered message %d seq %d", e, err, m.ID, m.Seq)
	}
	// A reader with these keys only, and no store to ask, opens the
	// message as the log holds it.
	r := msgkeys.NewReader(nil, c.names.Rooms)
	r.Seed(keys)
	var found bool
	for _, e := range c.readAll() {
		if e.ID != m.ID {
			continue
		}
		found = true
		p, ok := e.Payload.(schemas.MessageSent)
		if !ok || p.Sealed == nil || p.Sealed.KeyID != keys[0].ID {
			t.Fatalf("logged %+v", e.Payload)
		}
		envs := []schemas.Envelope{e}
		if err := r.Open(ctx, envs); err != nil {
			t.Fatal(err)
		}
		if got := envs[0].Payload.(schemas.MessageSent).Text; got != text {
			t.Fatalf("opened %q, want %q", got, text)
		}
	}
	if !found {
		t.Fatalf("message %d not in the log", m.ID)
	}

	if _, keys := send(testSecret+"-wrong", "no keys for this one", "h2"); len(keys) != 0 || len(recs) != 0 {
		t.Fatalf("keys or records given without the realtime service's secret: %+v %d", keys, len(recs))
	}
	// The public listener never gives keys, whatever the request carries.
	public := gin.New()
	a.svc.Routes(public)
	srv = httptest.NewServer(public)
	defer srv.Close()
	if _, keys := send(presence, "nor for this one", "h3"); len(keys) != 0 || len(recs) != 0 {
		t.Fatalf("keys or records given on the public listener: %+v %d", keys, len(recs))
	}
}
