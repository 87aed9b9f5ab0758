package command

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"happychat/internal/cmdproto"
	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// TestInternalSendCarriesItsKeys: a send a realtime service makes on the
// internal listener with its secret is answered with the keys its text was
// sealed under (cmdproto.KeysHeader), and those keys alone open the
// message as the log holds it; without the secret, no keys.
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
	send := func(secret, text, id string) (schemas.Message, []msgkeys.Key) {
		t.Helper()
		cl, err := cmdproto.NewClient(srv.URL, secret)
		if err != nil {
			t.Fatal(err)
		}
		var got []msgkeys.Key
		cl.OnKeys = func(k []msgkeys.Key) { got = append(got, k...) }
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

	if _, keys := send(testSecret+"-wrong", "no keys for this one", "h2"); len(keys) != 0 {
		t.Fatalf("keys given without the realtime service's secret: %+v", keys)
	}
	// The public listener never gives keys, whatever the request carries.
	public := gin.New()
	a.svc.Routes(public)
	srv = httptest.NewServer(public)
	defer srv.Close()
	if _, keys := send(presence, "nor for this one", "h3"); len(keys) != 0 {
		t.Fatalf("keys given on the public listener: %+v", keys)
	}
}
