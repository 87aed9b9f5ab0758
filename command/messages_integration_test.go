package command

import (
	"context"
	"fmt"
	"testing"
	"time"

	"happychat/schemas"
)

// Changes to messages that left the owner's table: they are read back from
// command_messages, survive a restart (snapshot + store), stay idempotent,
// and are refused with 503 when the store cannot answer. Needs Kafka and
// PostgreSQL.
func TestChangesToMessagesBeyondTheTable(t *testing.T) {
	c := newCluster(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	small := func(cfg *Config) {
		cfg.DedupeWindowEntries, cfg.SnapshotRecords, cfg.SnapshotInterval = 16, 50, time.Second
	}
	a := c.startWith(0, small)
	c.waitOwned(a)
	room := c.openRoom(a, "changes")
	author, other := testCaller(21, "author"), testCaller(22, "other")
	c.join(ctx, a, author, room)
	c.join(ctx, a, other, room)

	// Below feature level 3 a change is refused, a plain send is not.
	pre, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, author, room, "before", "pre") })
	if err != nil {
		t.Fatal(err)
	}
	if err := a.svc.React(ctx, other, room, pre.ID, "👍", true); code(err) != schemas.CodeUnavailable {
		t.Fatalf("a reaction below level 3: %v, want unavailable", err)
	}
	if err := SetFeatureLevel(ctx, c.store, c.names, 3); err != nil {
		t.Fatal(err)
	}
	a.stop()
	a = c.startWith(1, small)
	c.waitOwned(a)

	const n = 200
	ids := sendN(t, a, author, room, n)
	// All but the newest messages leave the table for the store.
	c.waitStore("messages stored", `SELECT count(*) FROM command_messages WHERE topic = $1`, n-50)
	msg := func(i int) schemas.ID { return ids[fmt.Sprint("msg-", i)] }

	do := func(label string, f func() error) {
		t.Helper()
		if _, err := retry(t, func() (struct{}, error) { return struct{}{}, f() }); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
	}
	do("react", func() error { return a.svc.React(ctx, other, room, msg(0), "👍", true) })
	do("react again", func() error { return a.svc.React(ctx, other, room, msg(0), "👍", true) })
	do("delete", func() error { return a.svc.Delete(ctx, author, room, msg(1)) })
	var edited schemas.Message
	do("edit", func() (err error) { edited, err = a.svc.Edit(ctx, author, room, msg(2), "hello again"); return err })
	if edited.Body != "hello again" || edited.EditedAt == "" || edited.Seq == 0 {
		t.Fatalf("edit answered %+v", edited)
	}
	var reply schemas.Message
	do("reply", func() (err error) {
		reply, err = a.svc.SendMessage(ctx, other, room, SendInput{Body: "re", ClientMsgID: "re-3", ReplyTo: msg(3)})
		return err
	})
	if rt := reply.ReplyTo; rt == nil || rt.Preview != "hello msg-3" || rt.UserID != author.UserID {
		t.Fatalf("reply_to = %+v", reply.ReplyTo)
	}

	// More sends push the changed messages out of the table too: their
	// states are stored again (deleted, reacted to).
	for i := range 60 {
		do("send more", func() error {
			_, err := a.svc.Send(ctx, author, room, "more", fmt.Sprint("more-", i))
			return err
		})
	}
	c.waitStore("changed messages stored", `SELECT count(*) FROM command_messages WHERE topic = $1
		AND (position('"deleted":true' in convert_from(state, 'UTF8')) > 0 OR position('"reactions"' in convert_from(state, 'UTF8')) > 0)`, 2)
	// A restart: the state comes back from the snapshot and the store.
	c.waitSnapshotAtEnd(ctx)
	a.stop()
	b := c.startWith(2, small)
	c.waitOwned(b)
	do("react again after the restart", func() error { return b.svc.React(ctx, other, room, msg(0), "👍", true) })
	do("delete again after the restart", func() error { return b.svc.Delete(ctx, author, room, msg(1)) })
	if err := b.svc.React(ctx, other, room, msg(1), "👍", true); code(err) != schemas.CodeConflict {
		t.Fatalf("a reaction to a deleted message after the restart: %v, want conflict", err)
	}
	if _, err := b.svc.Edit(ctx, other, room, msg(4), "not mine"); code(err) != schemas.CodeForbidden {
		t.Fatalf("an edit by another after the restart: %v, want forbidden", err)
	}

	events := c.readAll()
	checkRoomLog(t, events, 20)
	counts := map[string]int{}
	for _, e := range events {
		if e.RoomID == room {
			counts[e.Payload.EventType()]++
		}
	}
	want := map[string]int{schemas.TypeMessageReactionAdded: 1, schemas.TypeMessageDeleted: 1, schemas.TypeMessageEdited: 1}
	for typ, w := range want {
		if counts[typ] != w {
			t.Errorf("%d %s in the log, want %d (retries must append nothing)", counts[typ], typ, w)
		}
	}

	// When the store cannot answer, a change to a message it holds is
	// refused rather than decided on a guess.
	b.svc.store.pool.Close()
	if err := b.svc.Delete(ctx, author, room, msg(5)); code(err) != schemas.CodeUnavailable {
		t.Fatalf("with the store gone: %v, want unavailable", err)
	}
}
