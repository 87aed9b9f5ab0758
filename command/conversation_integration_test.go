package command

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"happychat/schemas"
)

// Integration tests of private rooms, invites and direct messages on the
// real Kafka and PostgreSQL, across two command instances.

// setLevel4 raises the cluster to feature level 4 before any instance
// starts (the instances of this build understand it).
func setLevel4(t *testing.T, c *cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := SetFeatureLevel(ctx, c.store, c.names, 4); err != nil {
		t.Fatal(err)
	}
}

// waitKnown waits until every instance's fold can name every user (their
// joins were tailed): a direct message or an add needs the peer's nickname.
func waitKnown(t *testing.T, users []Caller, ins ...*instance) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, in := range ins {
		for _, u := range users {
			for {
				if n, ok := in.svc.fold.nicknameOf(u.UserID); ok && n == u.Nickname {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("user %d is not in an instance's fold", u.UserID)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// TestOneDirectConversationPerPairAcrossInstances: both users of a pair
// open their conversation at once, many times, each through another
// instance. One conversation.created and two member.added are appended, all
// answers name the same room, exactly one says it created it, and neither
// user leaves their topic room.
func TestOneDirectConversationPerPairAcrossInstances(t *testing.T) {
	c := newCluster(t, 4)
	setLevel4(t, c)
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic := c.openRoom(a, "lobby")
	alice, bob := testCaller(2_000_001, "alice"), testCaller(2_000_002, "bob")
	c.join(ctx, a, alice, topic)
	c.join(ctx, b, bob, topic)
	waitKnown(t, []Caller{alice, bob}, a, b)

	const each = 16
	var (
		wg      sync.WaitGroup
		created atomic.Int32
		mu      sync.Mutex
		rooms   = map[schemas.ID]int{}
		errs    []error
	)
	for i := range 2 * each {
		wg.Go(func() {
			in, me, peer := a, alice, bob
			if i%2 == 1 {
				in, me, peer = b, bob, alice
			}
			type answer struct {
				room    schemas.Room
				created bool
			}
			got, err := retry(t, func() (answer, error) {
				r, cr, err := in.svc.OpenDirect(ctx, me, peer.UserID, "")
				return answer{r, cr}, err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if got.created {
				created.Add(1)
			}
			rooms[got.room.ID]++
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d failures, first: %v", len(errs), errs[0])
	}
	want := schemas.DirectRoomID(alice.UserID, bob.UserID)
	if len(rooms) != 1 || rooms[want] != 2*each || created.Load() != 1 {
		t.Fatalf("answers named rooms %v (want only %d), %d said created (want 1)", rooms, want, created.Load())
	}
	events := c.readAll()
	var creations, adds int
	for _, e := range events {
		if e.RoomID != want {
			continue
		}
		switch e.Payload.(type) {
		case schemas.ConversationCreated:
			creations++
		case schemas.MemberAdded:
			adds++
		}
	}
	if creations != 1 || adds != 2 {
		t.Fatalf("the log holds %d conversation.created and %d member.added for the pair, want 1 and 2", creations, adds)
	}
	members := checkRoomLog(t, events, 20)
	if !members[topic][alice.UserID] || !members[topic][bob.UserID] || len(members[want]) != 2 {
		t.Fatalf("topic members %v, conversation members %v: the conversation moved someone", members[topic], members[want])
	}
	// And by share code, from the other instance: the same room.
	share, err := b.svc.ShareCode(bob)
	if err != nil {
		t.Fatal(err)
	}
	if r, cr, err := a.svc.OpenDirect(ctx, alice, 0, share); err != nil || cr || r.ID != want {
		t.Fatalf("by share code: %v created=%v room %d", err, cr, r.ID)
	}
	if _, _, err := a.svc.OpenDirect(ctx, alice, alice.UserID, ""); code(err) != schemas.CodeBadRequest {
		t.Fatalf("a conversation with oneself: %v", err)
	}
}

// TestInviteAcceptsRespectCapacityAndUses: many users accept invites at
// once through two instances; the room's owner admits exactly up to its
// capacity, and an invite exactly up to its uses. Members stay in their
// topic rooms, and only members may invite.
func TestInviteAcceptsRespectCapacityAndUses(t *testing.T) {
	const capacity = 8
	c := newCluster(t, 4)
	setLevel4(t, c)
	a, b := c.start(0, capacity), c.start(1, capacity)
	c.waitOwned(a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic := c.openRoom(a, "lobby")
	owner := testCaller(3_000_001, "owner")
	c.join(ctx, a, owner, topic)
	newPrivate := func(title string) schemas.ID {
		r, err := retry(t, func() (schemas.Room, error) { return a.svc.CreatePrivateRoom(ctx, owner, "", title, "") })
		if err != nil || r.Kind != schemas.RoomKindPrivate || r.MemberCount != 1 {
			t.Fatalf("create private: %v %+v", err, r)
		}
		return r.ID
	}
	accepts := func(invite string, n, base int) map[schemas.Code]int {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			out = map[schemas.Code]int{}
		)
		for i := range n {
			wg.Go(func() {
				in := a
				if i%2 == 1 {
					in = b
				}
				_, err := retry(t, func() (schemas.Room, error) {
					r, _, err := in.svc.AcceptInvite(ctx, testCaller(schemas.ID(base+i), fmt.Sprint("guest", i)), invite)
					return r, err
				})
				mu.Lock()
				out[code(err)]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return out
	}

	full := newPrivate("full")
	inv, err := retry(t, func() (Invite, error) { return b.svc.CreateInvite(ctx, owner, full, time.Hour, 100) })
	if err != nil {
		t.Fatal(err)
	}
	got := accepts(inv.Code, 30, 3_100_000)
	if got[""] != capacity-1 || got[schemas.CodeRoomFull] != 30-(capacity-1) {
		t.Fatalf("accepts: %v; want %d admitted and the rest room_full", got, capacity-1)
	}

	few := newPrivate("few")
	inv, err = retry(t, func() (Invite, error) { return a.svc.CreateInvite(ctx, owner, few, time.Hour, 3) })
	if err != nil {
		t.Fatal(err)
	}
	got = accepts(inv.Code, 10, 3_200_000)
	if got[""] != 3 || got[schemas.CodeConflict] != 7 {
		t.Fatalf("accepts: %v; want 3 admitted and 7 conflict (used up)", got)
	}
	// A guest, not a member, cannot invite; a wrong secret is no invite.
	if _, err := a.svc.CreateInvite(ctx, testCaller(3_900_000, "stranger"), few, time.Hour, 1); code(err) != schemas.CodeForbidden {
		t.Fatalf("a stranger's invite: %v", err)
	}
	if _, _, err := a.svc.AcceptInvite(ctx, testCaller(3_900_001, "x"), few.String()+".AAAAAAAAAAAAAAAAAAAAAA"); code(err) != schemas.CodeNotFound {
		t.Fatalf("a wrong secret: %v", err)
	}

	members := checkRoomLog(t, c.readAll(), capacity)
	if len(members[full]) != capacity || len(members[few]) != 4 || !members[topic][owner.UserID] {
		t.Fatalf("members: full %d, few %d, owner in the topic room %v", len(members[full]), len(members[few]), members[topic][owner.UserID])
	}
	if loc, ok := a.svc.fold.locate(owner.UserID); !ok || loc.room != topic || !loc.active {
		t.Fatalf("the owner's topic room is now %+v", loc)
	}
}

// TestInviteExpires: an invite admits no one once its expiry passes on the
// owner's clock.
func TestInviteExpires(t *testing.T) {
	c := newCluster(t, 1)
	setLevel4(t, c)
	var ahead atomic.Int64
	a := c.startWith(0, func(cfg *Config) {
		cfg.Clock = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	c.waitOwned(a)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	owner := testCaller(4_000_001, "owner")
	room, err := retry(t, func() (schemas.Room, error) { return a.svc.CreatePrivateRoom(ctx, owner, "", "soon", "") })
	if err != nil {
		t.Fatal(err)
	}
	inv, err := a.svc.CreateInvite(ctx, owner, room.ID, MinInviteTTL, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.svc.AcceptInvite(ctx, testCaller(4_000_002, "early"), inv.Code); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	ahead.Store(int64(MinInviteTTL + time.Second))
	if _, _, err := a.svc.AcceptInvite(ctx, testCaller(4_000_003, "late"), inv.Code); code(err) != schemas.CodeNotFound {
		t.Fatalf("after expiry: %v, want not_found", err)
	}
}
