package command

import (
	"context"
	"sync"
	"testing"
	"time"

	"happychat/schemas"
)

// TestModerationAcrossInstances: on the real Kafka and PostgreSQL with two
// instances. A report filed through one instance holds the message's keys
// through its author's delete; the admin's resolution, through each
// instance in turn (so one of them forwards it to the room's owner), erases
// them. A block and the blocked user's opening of the pair's direct
// messages race through different instances: whichever the pair's one
// owner decides first, afterwards the blocked user can neither open nor
// send.
func TestModerationAcrossInstances(t *testing.T) {
	c := newCluster(t, 4)
	ctx0, cancel0 := context.WithTimeout(context.Background(), 30*time.Second)
	if err := SetFeatureLevel(ctx0, c.store, c.names, 5); err != nil {
		t.Fatal(err)
	}
	cancel0()
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	room := c.openRoom(a, "moderation")
	alice, bob := testCaller(3_000_001, "alice"), testCaller(3_000_002, "bob")
	c.join(ctx, a, alice, room)
	c.join(ctx, b, bob, room)
	waitKnown(t, []Caller{alice, bob}, a, b)

	msg, err := retry(t, func() (schemas.Message, error) { return a.svc.Send(ctx, alice, room, "held text", "m-1") })
	if err != nil {
		t.Fatal(err)
	}
	type filed struct {
		id      schemas.ID
		created bool
	}
	rep, err := retry(t, func() (filed, error) {
		id, cr, err := b.svc.Report(ctx, bob, room, msg.ID, schemas.ReportReasonSpam, "")
		return filed{id, cr}, err
	})
	if err != nil || !rep.created {
		t.Fatalf("report: %v %+v", err, rep)
	}
	keys := func() (n, held int) {
		t.Helper()
		if err := c.store.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE held) FROM message_keys WHERE scope = $1 AND message_id = $2`,
			c.names.Rooms, int64(msg.ID)).Scan(&n, &held); err != nil {
			t.Fatal(err)
		}
		return n, held
	}
	if _, err := retry(t, func() (struct{}, error) { return struct{}{}, a.svc.Delete(ctx, alice, room, msg.ID) }); err != nil {
		t.Fatal(err)
	}
	if n, held := keys(); n == 0 || held != n {
		t.Fatalf("after the delete of a reported message: %d keys, %d held; want all kept and held", n, held)
	}
	admin := Caller{Admin: true, Token: testAdmin}
	if err := a.svc.ResolveReport(ctx, bob, rep.id, schemas.ReportOutcomeDismissed); code(err) != schemas.CodeForbidden {
		t.Fatalf("a user resolves: %v", err)
	}
	// Resolved through the instance that does not own the room: it finds
	// the report's room in its fold (once its tail read the report) and
	// forwards the command with the admin's credential.
	via := a
	if owns(a, room) {
		via = b
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := retry(t, func() (struct{}, error) {
			return struct{}{}, via.svc.ResolveReport(ctx, admin, rep.id, schemas.ReportOutcomeDismissed)
		})
		if err == nil {
			break
		}
		if code(err) != schemas.CodeNotFound || time.Now().After(deadline) {
			t.Fatalf("resolve through the other instance: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.svc.ResolveReport(ctx, admin, rep.id, schemas.ReportOutcomeDeleted); code(err) != schemas.CodeNotFound {
		t.Fatalf("resolving again: %v", err)
	}
	if n, _ := keys(); n != 0 {
		t.Fatalf("%d keys left after the resolution of a deleted message", n)
	}

	// The race of a block and the blocked user's opening.
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := retry(t, func() (struct{}, error) { return struct{}{}, a.svc.Block(ctx, alice, bob.UserID) }); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		_, err := retry(t, func() (schemas.Room, error) {
			r, _, err := b.svc.OpenDirect(ctx, bob, alice.UserID, "")
			return r, err
		})
		if err != nil && code(err) != schemas.CodeBlocked {
			t.Error(err)
		}
	})
	wg.Wait()
	pair := schemas.DirectRoomID(alice.UserID, bob.UserID)
	if _, err := retry(t, func() (schemas.Message, error) { return b.svc.Send(ctx, bob, pair, "hi", "dm-1") }); code(err) != schemas.CodeBlocked && code(err) != schemas.CodeForbidden {
		t.Fatalf("the blocked user sends in the pair's room: %v", err)
	}
	if _, err := retry(t, func() (schemas.Room, error) {
		r, _, err := b.svc.OpenDirect(ctx, bob, alice.UserID, "")
		return r, err
	}); code(err) != schemas.CodeBlocked {
		t.Fatalf("the blocked user opens the direct messages: %v", err)
	}
	var resolved, erased, deletes int
	for _, e := range c.readAll() {
		switch p := e.Payload.(type) {
		case schemas.ReportResolved:
			resolved++
			if p.Erased && p.ReportID == rep.id {
				erased++
			}
		case schemas.MessageDeleted:
			if p.MessageID == msg.ID {
				deletes++
			}
		}
	}
	if resolved != 1 || erased != 1 || deletes != 1 {
		t.Fatalf("the log holds %d resolutions (%d erased) and %d deletes of the message; want 1, 1, 1", resolved, erased, deletes)
	}
}

// owns reports whether in owns room's partition now.
func owns(in *instance, room schemas.ID) bool {
	p := in.svc.partitionOf(room)
	in.svc.omu.Lock()
	defer in.svc.omu.Unlock()
	o, ok := in.svc.owners[p]
	return ok && o.ready.Load()
}
