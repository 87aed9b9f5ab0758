package command

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/logread"
	"happychat/schemas"
)

// TestDecideRename: a member's rename takes the room's next seq and the
// room's members (presence) follow; a stranger, a superseded member, the
// same name again or no room append nothing; a bad name is refused.
func TestDecideRename(t *testing.T) {
	tests := []struct {
		name     string
		user     schemas.ID
		nickname string
		moved    bool // user 1 joined elsewhere since (superseded here)
		noRoom   bool
		want     []string
		wantCode schemas.Code
	}{
		{"member", 1, "하늘이", false, false, []string{schemas.TypeMemberRenamed}, ""},
		{"member, trimmed", 1, "  b  ", false, false, []string{schemas.TypeMemberRenamed}, ""},
		{"same name", 1, "a", false, false, nil, ""},
		{"not a member", 2, "b", false, false, nil, ""},
		{"superseded member", 1, "b", true, false, nil, ""},
		{"no room", 1, "b", false, true, nil, ""},
		{"empty name", 1, "  ", false, false, nil, schemas.CodeBadRequest},
		{"too long", 1, strings.Repeat("가", 33), false, false, nil, schemas.CodeBadRequest},
		{"control character", 1, "a\u0007b", false, false, nil, schemas.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			locs := users{}
			dp := testDeps(20, locs)
			r := withMember(t, 7, dp)
			if tt.moved {
				locs[1] = location{room: 8, joinID: 1 << 40, active: true}
			}
			if tt.noRoom {
				r = nil
			}
			seq := int64(0)
			if r != nil {
				seq = r.seq
			}
			d, after, err := decide(r, Command{Kind: KindRename, RoomID: 7, UserID: tt.user, Nickname: tt.nickname}, dp)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if got := types(d); !slices.Equal(got, tt.want) {
				t.Fatalf("appended %v, want %v", got, tt.want)
			}
			if len(tt.want) == 0 {
				return
			}
			e := d.events[0]
			p := e.Payload.(schemas.MemberRenamed)
			if e.Seq != seq+1 || e.UserID != tt.user || p.Previous != "a" || p.Nickname != strings.TrimSpace(tt.nickname) {
				t.Fatalf("event %+v %+v: want seq %d, previous a, nickname %q", e, p, seq+1, tt.nickname)
			}
			pres, err := decidePresence(after)
			if err != nil || len(pres.result.Members) != 1 || pres.result.Members[0].Nickname != p.Nickname || pres.result.Seq != e.Seq {
				t.Fatalf("presence after the rename: %+v, %v", pres.result, err)
			}
		})
	}
}

// TestRenameFoldsLikeTheOwner: the tail's fold (room.next) gives the same
// members as the owner's decision, and leaves the room it was given as it
// was (a stored *room never changes).
func TestRenameFoldsLikeTheOwner(t *testing.T) {
	dp := testDeps(20, users{})
	r := withMember(t, 7, dp)
	before := r.clone()
	d, err := decideRename(r.clone(), Command{Kind: KindRename, RoomID: 7, UserID: 1, Nickname: "z"}, dp)
	if err != nil || len(d.events) != 1 {
		t.Fatalf("decide: %v, %d events", err, len(d.events))
	}
	next, applied, err := before.next(d.events[0])
	if err != nil || !applied {
		t.Fatalf("next: %v, applied %v", err, applied)
	}
	if next.members[1].nickname != "z" || before.members[1].nickname != "a" {
		t.Fatalf("folded %q, original now %q: want z and a", next.members[1].nickname, before.members[1].nickname)
	}
	if again, applied, _ := next.next(d.events[0]); applied || again != next {
		t.Fatal("a rename read twice was applied twice")
	}
}

// Rename's refusals, decided before anything is appended: the admin token
// has no nickname, a bad name or token is refused, and below cluster level
// 3 the events may not be written (refused before an id is minted). The
// last case passes every check and stops at minting the id: this service
// holds no node id lease.
func TestRenameRefusals(t *testing.T) {
	tests := []struct {
		name     string
		level    int32
		caller   Caller
		nickname string
		wantCode schemas.Code
		feature  bool
	}{
		{"the admin token", 3, Caller{Admin: true, Token: testAdmin}, "x", schemas.CodeForbidden, false},
		{"an empty name", 3, testCaller(1, "n"), " ", schemas.CodeBadRequest, false},
		{"a token the keys refuse", 3, Caller{UserID: 1, Token: "a.b.c"}, "x", schemas.CodeUnauthorized, false},
		{"cluster level 2", 2, testCaller(1, "n"), "x", schemas.CodeUnavailable, true},
		{"level 3: on to minting the id", 3, testCaller(1, "n"), "x", schemas.CodeUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{cfg: Config{Keys: mustKeys(t), Clock: time.Now}, running: make(chan struct{})}
			s.level.Store(tt.level)
			_, err := s.Rename(t.Context(), tt.caller, tt.nickname)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
			if feature := strings.Contains(err.Error(), "feature level"); feature != tt.feature {
				t.Fatalf("err %v: feature-level refusal %v, want %v", err, feature, tt.feature)
			}
		})
	}
}

// TestRenameIsForwardedToTheRoomsOwner: on two instances, a rename served
// by the instance that does not own the user's room is forwarded to the
// owner (KindRename), which appends member.renamed once, at the room's
// next seq, and answers presence with the new name; the users topic holds
// the user.renamed and the old token's session.revoked.
func TestRenameIsForwardedToTheRoomsOwner(t *testing.T) {
	c := newCluster(t, 4)
	a, b := c.start(0, 20), c.start(1, 20)
	c.waitOwned(a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := SetFeatureLevel(ctx, c.store, c.names, 3); err != nil {
		t.Fatal(err)
	}
	room := c.openRoom(a, "renames across instances")
	owner, other := a, b
	if a.svc.ownerOf(a.svc.partitionOf(room)) == nil {
		owner, other = b, a
	}
	user := testCaller(7267000000000000099, "하늘이")
	c.join(ctx, owner, user, room)
	// The other instance learns where the user is from its tail.
	for {
		if loc, ok := other.svc.fold.locate(user.UserID); ok && loc.room == room && loc.active {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the other instance never located the user")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Both instances read the raised level at their next lease renewal.
	// The rename waits for both: one that the owner refuses (its level not
	// read yet) has already appended user.renamed, and its retry would
	// append it again (the users topic would hold two).
	for owner.svc.checkEmit(schemas.MemberRenamed{}) != nil || other.svc.checkEmit(schemas.UserRenamed{}) != nil {
		if ctx.Err() != nil {
			t.Fatal("the instances never read feature level 3")
		}
		time.Sleep(50 * time.Millisecond)
	}
	var (
		sess schemas.Session
		err  error
	)
	for {
		sess, err = other.svc.Rename(ctx, user, "구름이")
		if code(err) != schemas.CodeUnavailable || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || sess.UserID != user.UserID || sess.Nickname != "구름이" {
		t.Fatalf("rename through the other instance: %+v, %v", sess, err)
	}
	var renames []schemas.Envelope
	for _, e := range c.readAll() {
		if _, ok := e.Payload.(schemas.MemberRenamed); ok {
			renames = append(renames, e)
		}
	}
	if len(renames) != 1 || renames[0].RoomID != room || renames[0].UserID != user.UserID || renames[0].Seq != 3 {
		t.Fatalf("member.renamed in the log: %+v, want one in room %d at seq 3 (after created, joined)", renames, room)
	}
	members, _, err := owner.svc.Presence(ctx, room)
	if err != nil || len(members) != 1 || members[0].Nickname != "구름이" {
		t.Fatalf("presence after the rename: %+v, %v", members, err)
	}
	var userEvents []string
	if err := logread.Read(ctx, c.brokers, c.names.Users, logread.HighWatermark, func(r *kgo.Record) error {
		e, err := schemas.Events.Decode(r.Value)
		if err == nil && e.UserID == user.UserID {
			userEvents = append(userEvents, e.Type)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(userEvents, []string{schemas.TypeUserRenamed, schemas.TypeSessionRevoked}) {
		t.Fatalf("users topic holds %v for the user, want user.renamed then session.revoked", userEvents)
	}
}
