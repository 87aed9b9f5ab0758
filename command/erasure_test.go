package command

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// TestSealedTextsAndErasure: at feature level 4 the log carries no text in
// the clear; a delete destroys the message's keys (its send's, its edits',
// its replies' previews'), unless a hold keeps them until released, and the
// next snapshot replaces those that held the text. Needs Kafka and
// PostgreSQL.
func TestSealedTextsAndErasure(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	if err := SetFeatureLevel(ctx, c.store, c.names, sealLevel); err != nil {
		t.Fatal(err)
	}
	snappy := func(cfg *Config) { cfg.SnapshotRecords, cfg.SnapshotInterval = 5, 200*time.Millisecond }
	a := c.startWith(0, snappy)
	c.waitOwned(a)
	room := c.openRoom(a, "erasure")
	author, other := testCaller(31, "author"), testCaller(32, "other")
	c.join(ctx, a, author, room)
	c.join(ctx, a, other, room)

	const secret, edited, kept = "alpha-secret-7f3e", "beta-secret-7f3e", "gamma-kept-7f3e"
	orig, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, author, room, secret, "s1") })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := retry(t, func() (schemas.Message, error) { return a.svc.Edit(ctx, author, room, orig.ID, edited) }); err != nil {
		t.Fatal(err)
	}
	reply, err := retry(t, func() (schemas.Message, error) {
		return a.svc.SendMessage(ctx, other, room, SendInput{Body: "re", ClientMsgID: "r1", ReplyTo: orig.ID})
	})
	if err != nil || reply.ReplyTo == nil || reply.ReplyTo.Preview != edited {
		t.Fatalf("reply: %+v, %v", reply.ReplyTo, err)
	}
	heldMsg, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, author, room, kept, "s2") })
	if err != nil {
		t.Fatal(err)
	}

	raw := func(needle string) int {
		t.Helper()
		n := 0
		if err := logread.Read(ctx, c.brokers, c.names.Rooms, logread.HighWatermark, func(r *kgo.Record) error {
			if bytes.Contains(r.Value, []byte(needle)) {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, s := range []string{secret, edited, kept} {
		if n := raw(s); n != 0 {
			t.Fatalf("%q in the clear in %d records of the log", s, n)
		}
	}
	opened := func() map[schemas.ID]schemas.Envelope {
		t.Helper()
		events := c.readAll()
		// A fresh reader: nothing cached.
		if err := msgkeys.NewReader(c.store, c.names.Rooms).Open(ctx, events); err != nil {
			t.Fatal(err)
		}
		out := map[schemas.ID]schemas.Envelope{}
		for _, e := range events {
			switch p := e.Payload.(type) {
			case schemas.MessageSent:
				out[e.ID] = e
			case schemas.MessageEdited:
				out[p.MessageID*10] = e // the edit of a message, apart from its send
			}
		}
		return out
	}
	before := opened()
	if p := before[orig.ID].Payload.(schemas.MessageSent); p.Text != secret || p.Erased {
		t.Fatalf("the send opens as %+v", p)
	}
	if p := before[orig.ID*10].Payload.(schemas.MessageEdited); p.Text != edited {
		t.Fatalf("the edit opens as %+v", p)
	}
	if p := before[reply.ID].Payload.(schemas.MessageSent); p.ReplyTo.Preview != edited || p.ReplyTo.Deleted {
		t.Fatalf("the reply's preview opens as %+v", p.ReplyTo)
	}
	snapHas := func(needle string) int64 {
		t.Helper()
		var n int64
		if err := c.store.QueryRow(ctx, `SELECT count(*) FROM command_snapshots WHERE topic = $1
			AND (position($2::bytea in win) > 0 OR position($2::bytea in state) > 0)`, c.names.Rooms, []byte(needle)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	c.waitStore("a snapshot with the text (the search below can fail)", `SELECT count(*) FROM command_snapshots WHERE topic = $1
		AND position(convert_to('`+secret+`', 'UTF8') in win) > 0`, 1)

	if err := msgkeys.Hold(ctx, c.store, c.names.Rooms, []schemas.ID{heldMsg.ID}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []schemas.ID{orig.ID, heldMsg.ID} {
		if err := a.svc.Delete(ctx, author, room, id); err != nil {
			t.Fatal(err)
		}
	}
	var keys int64
	if err := c.store.QueryRow(ctx, `SELECT count(*) FROM message_keys WHERE scope = $1 AND message_id = $2`,
		c.names.Rooms, int64(orig.ID)).Scan(&keys); err != nil || keys != 0 {
		t.Fatalf("%d keys of the deleted message left (%v)", keys, err)
	}
	after := opened()
	if p := after[orig.ID].Payload.(schemas.MessageSent); !p.Erased || p.Text != "" {
		t.Errorf("the deleted send opens as %+v", p)
	}
	if p := after[orig.ID*10].Payload.(schemas.MessageEdited); !p.Erased || p.Text != "" {
		t.Errorf("the deleted message's edit opens as %+v", p)
	}
	if p := after[reply.ID].Payload.(schemas.MessageSent); !p.ReplyTo.Deleted || p.ReplyTo.Preview != "" || p.Text != "re" {
		t.Errorf("the reply opens as %+v, preview %+v", p, p.ReplyTo)
	}
	if p := after[heldMsg.ID].Payload.(schemas.MessageSent); p.Text != kept {
		t.Errorf("a held message lost its text to the delete: %+v", p)
	}
	// The snapshot after the delete replaces every one that held the text.
	deadline := time.Now().Add(30 * time.Second)
	for snapHas(secret)+snapHas(edited) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := snapHas(secret) + snapHas(edited); n > 0 {
		t.Errorf("%d snapshots still hold the deleted text", n)
	}
	if erased, err := msgkeys.Release(ctx, c.store, c.names.Rooms, []schemas.ID{heldMsg.ID}); err != nil || len(erased) != 1 {
		t.Fatalf("release: %v, %v", erased, err)
	}
	if p := opened()[heldMsg.ID].Payload.(schemas.MessageSent); !p.Erased {
		t.Errorf("the held message kept its text after the release: %+v", p)
	}
	// A restart replays the log: the deleted send comes back erased, and
	// a retry of it is still answered as the (deleted) original.
	a.stop()
	b := c.startWith(1, snappy)
	c.waitOwned(b)
	again, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, author, room, secret, "s1") })
	if err != nil || again.ID != orig.ID || again.Body == secret {
		t.Errorf("a retry after the restart: %+v, %v", again, err)
	}
}
