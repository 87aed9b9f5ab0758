package command

import (
	"slices"
	"strings"
	"testing"
	"time"

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
