package command

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"happychat/schemas"
)

// Unit tests of the write side's fold (state.go): a room's copy-on-write
// next, the user fold of decision 2, and the per-partition fold the tail
// and the owners feed.

func created(room schemas.ID, id schemas.ID) schemas.Envelope {
	return schemas.Envelope{ID: id, RoomID: room, Seq: 1, Payload: schemas.RoomCreated{Title: "t"}}
}

func joined(room schemas.ID, seq int64, id, user schemas.ID) schemas.Envelope {
	return schemas.Envelope{ID: id, RoomID: room, UserID: user, Seq: seq, Payload: schemas.RoomJoined{Nickname: "n"}}
}

func leftRoom(room schemas.ID, seq int64, id, user schemas.ID) schemas.Envelope {
	return schemas.Envelope{ID: id, RoomID: room, UserID: user, Seq: seq, Payload: schemas.RoomLeft{Reason: schemas.LeftReasonLeft}}
}

func sentMsg(room schemas.ID, seq int64, id schemas.ID) schemas.Envelope {
	return schemas.Envelope{ID: id, RoomID: room, UserID: 1, Seq: seq, Payload: schemas.MessageSent{Text: "hi", ClientMsgID: "c"}}
}

func TestRoomNextLeavesTheStoredRoomAlone(t *testing.T) {
	tests := []struct {
		name        string
		env         schemas.Envelope
		wantApplied bool
		wantSeq     int64
		wantMembers int
		wantMsgs    int64
		wantErr     error
	}{
		{"a join", joined(7, 3, 30, 2), true, 3, 2, 0, nil},
		{"a leave", leftRoom(7, 3, 30, 1), true, 3, 0, 0, nil},
		{"a message", sentMsg(7, 3, 30), true, 3, 1, 1, nil},
		{"the last event again", joined(7, 2, 20, 1), false, 2, 1, 0, nil},
		{"an older event again", created(7, 10), false, 2, 1, 0, nil},
		{"a gap", sentMsg(7, 4, 40), false, 2, 1, 0, errGap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoom(7)
			for _, e := range []schemas.Envelope{created(7, 10), joined(7, 2, 20, 1)} {
				if _, err := r.apply(e); err != nil {
					t.Fatal(err)
				}
			}
			nr, applied, err := r.next(tt.env)
			if applied != tt.wantApplied || !errors.Is(err, tt.wantErr) {
				t.Fatalf("applied %v err %v, want %v %v", applied, err, tt.wantApplied, tt.wantErr)
			}
			if (nr == r) == tt.wantApplied {
				t.Fatalf("next returned the stored room: %v, want a copy: %v", nr == r, tt.wantApplied)
			}
			if nr.seq != tt.wantSeq || len(nr.members) != tt.wantMembers || nr.messages != tt.wantMsgs {
				t.Fatalf("next: seq %d, %d members, %d messages; want %d, %d, %d",
					nr.seq, len(nr.members), nr.messages, tt.wantSeq, tt.wantMembers, tt.wantMsgs)
			}
			if r.seq != 2 || len(r.members) != 1 || r.messages != 0 || r.lastID != 20 {
				t.Fatalf("the stored room changed: seq %d, %d members, %d messages, last id %d", r.seq, len(r.members), r.messages, r.lastID)
			}
		})
	}
}

func TestUsersFoldLeavesAndReplays(t *testing.T) {
	tests := []struct {
		name       string
		events     []schemas.Envelope
		want       location
		wantSwitch bool
	}{
		{"a leave ends the membership", []schemas.Envelope{joined(100, 2, 10, 1), leftRoom(100, 3, 15, 1)},
			location{room: 100, joinID: 10, active: false}, false},
		{"a replayed join does not undo a leave", []schemas.Envelope{joined(100, 2, 10, 1), leftRoom(100, 3, 15, 1), joined(100, 2, 10, 1)},
			location{room: 100, joinID: 10, active: false}, false},
		{"a leave of an earlier room changes nothing", []schemas.Envelope{joined(100, 2, 10, 1), joined(200, 2, 20, 1), leftRoom(100, 3, 25, 1)},
			location{room: 200, joinID: 20, active: true}, true},
		{"a join after leaving ends nothing", []schemas.Envelope{joined(100, 2, 10, 1), leftRoom(100, 3, 15, 1), joined(200, 2, 20, 1)},
			location{room: 200, joinID: 20, active: true}, false},
		{"an older join elsewhere, read late, is superseded", []schemas.Envelope{joined(200, 2, 20, 1), joined(100, 2, 10, 1)},
			location{room: 200, joinID: 20, active: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := users{}
			switched := false
			for _, e := range tt.events {
				if _, ok := u.apply(e); ok {
					switched = true
				}
			}
			if u[1] != tt.want || switched != tt.wantSwitch {
				t.Fatalf("location %+v, switch %v; want %+v, %v", u[1], switched, tt.want, tt.wantSwitch)
			}
		})
	}
}

func TestFoldLocateTakesTheLatestJoinOfAnyPartition(t *testing.T) {
	for _, order := range [][2]int32{{0, 1}, {1, 0}} {
		t.Run(fmt.Sprintf("later join in partition %d", order[1]), func(t *testing.T) {
			f := newFold(2)
			f.parts[order[0]].users[1] = location{room: 100, joinID: 10, active: true}
			f.parts[order[1]].users[1] = location{room: 200, joinID: 20, active: false}
			l, ok := f.locate(1)
			if !ok || l.room != 200 || l.joinID != 20 || l.active {
				t.Fatalf("locate = %+v %v, want the join 20 in room 200", l, ok)
			}
			if _, ok := f.locate(2); ok {
				t.Fatal("a user who never joined was located")
			}
		})
	}
}

func TestFoldApplyEvents(t *testing.T) {
	type batch struct {
		part   int32
		events []schemas.Envelope
	}
	tests := []struct {
		name     string
		batches  []batch
		switches []switchNeeded
		wantLoc  location
		lastIDs  [2]schemas.ID
	}{
		{"a later join elsewhere supersedes the earlier membership",
			[]batch{{0, []schemas.Envelope{created(100, 1), joined(100, 2, 10, 1)}}, {1, []schemas.Envelope{created(201, 5), joined(201, 2, 20, 1)}}},
			[]switchNeeded{{room: 100, user: 1, to: 201, joinID: 20}}, location{room: 201, joinID: 20, active: true}, [2]schemas.ID{10, 20}},
		{"read out of order across partitions",
			[]batch{{1, []schemas.Envelope{created(201, 5), joined(201, 2, 20, 1)}}, {0, []schemas.Envelope{created(100, 1), joined(100, 2, 10, 1)}}},
			[]switchNeeded{{room: 100, user: 1, to: 201, joinID: 20}}, location{room: 201, joinID: 20, active: true}, [2]schemas.ID{10, 20}},
		{"events read back a second time change nothing",
			[]batch{{0, []schemas.Envelope{created(100, 1), joined(100, 2, 10, 1), leftRoom(100, 3, 12, 1)}},
				{0, []schemas.Envelope{joined(100, 2, 10, 1)}}, {1, []schemas.Envelope{created(201, 5), joined(201, 2, 20, 1)}}},
			nil, location{room: 201, joinID: 20, active: true}, [2]schemas.ID{12, 20}},
		{"the last id is the highest applied, whatever the order of rooms",
			[]batch{{0, []schemas.Envelope{created(100, 30), created(102, 4), sentMsg(102, 2, 6)}}},
			nil, location{}, [2]schemas.ID{30, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFold(2)
			var got []switchNeeded
			for _, b := range tt.batches {
				sw, err := f.applyEvents(b.part, b.events)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, sw...)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.switches) {
				t.Errorf("switches %v, want %v", got, tt.switches)
			}
			if l, _ := f.locate(1); l != tt.wantLoc {
				t.Errorf("user 1 at %+v, want %+v", l, tt.wantLoc)
			}
			if got := [2]schemas.ID{f.parts[0].lastID, f.parts[1].lastID}; got != tt.lastIDs {
				t.Errorf("last ids %v, want %v", got, tt.lastIDs)
			}
		})
	}
}

func TestFoldStopsAtAGapOrABlock(t *testing.T) {
	t.Run("a gap", func(t *testing.T) {
		f := newFold(1)
		_, err := f.applyEvents(0, []schemas.Envelope{created(100, 1), sentMsg(100, 3, 3), sentMsg(100, 2, 2)})
		if !errors.Is(err, errGap) {
			t.Fatalf("err %v, want a gap", err)
		}
		if r := f.parts[0].room(100); r == nil || r.seq != 1 {
			t.Fatalf("room %+v, want it at seq 1 (nothing after the gap)", r)
		}
	})
	t.Run("a blocked partition folds nothing more", func(t *testing.T) {
		f := newFold(2)
		first, second := errors.New("unknown event type"), errors.New("corrupt record")
		f.block(0, first)
		f.block(0, second)
		if err := f.parts[0].blockedErr(); !errors.Is(err, first) {
			t.Fatalf("blocked by %v, want the first error", err)
		}
		if _, err := f.applyEvents(0, []schemas.Envelope{created(100, 1)}); !errors.Is(err, first) {
			t.Fatalf("apply to a blocked partition: %v", err)
		}
		if f.parts[0].room(100) != nil {
			t.Fatal("a blocked partition folded an event")
		}
		if _, err := f.applyEvents(1, []schemas.Envelope{created(101, 2)}); err != nil || f.parts[1].room(101) == nil {
			t.Fatalf("the other partition: %v", err)
		}
		if err := f.parts[1].blockedErr(); err != nil {
			t.Fatalf("the other partition is blocked: %v", err)
		}
	})
}

// Two joins of one user folded at once in two partitions (the tail folds
// one while an owner installs the other): whichever is folded second must
// see the first, so that the earlier join's room gets its switch-leave. The
// first fold is held between reading the location and folding for as long
// as the second needs to finish, if the second can finish meanwhile; with
// the location read and the fold one step, it cannot, and waits.
func TestFoldConcurrentJoinsOfOneUser(t *testing.T) {
	for _, first := range []int32{0, 1} {
		t.Run(fmt.Sprintf("partition %d folds first", first), func(t *testing.T) {
			f := newFold(3)
			// The user's earlier room, in a third partition.
			if _, err := f.applyEvents(2, []schemas.Envelope{created(300, 1), joined(300, 2, 5, 1)}); err != nil {
				t.Fatal(err)
			}
			for p, room := range map[int32]schemas.ID{0: 100, 1: 201} {
				if _, err := f.applyEvents(p, []schemas.Envelope{created(room, schemas.ID(6+p))}); err != nil {
					t.Fatal(err)
				}
			}
			batches := map[int32][]schemas.Envelope{0: {joined(100, 2, 10, 1)}, 1: {joined(201, 2, 20, 1)}}
			second := 1 - first
			located, secondDone := make(chan struct{}), make(chan struct{})
			f.located = func() {
				f.located = nil // only the first fold waits
				close(located)
				select {
				case <-secondDone:
				case <-time.After(200 * time.Millisecond):
				}
			}
			var (
				mu  sync.Mutex
				got []switchNeeded
				wg  sync.WaitGroup
			)
			fold := func(p int32) {
				sw, err := f.applyEvents(p, batches[p])
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, sw...)
				mu.Unlock()
			}
			wg.Go(func() { fold(first) })
			<-located
			wg.Go(func() { fold(second); close(secondDone) })
			wg.Wait()
			want := map[schemas.ID]bool{300: true, 100: true} // both earlier memberships end
			for _, sw := range got {
				if sw.user != 1 {
					t.Errorf("a switch-leave for user %d", sw.user)
				}
				delete(want, sw.room)
			}
			if len(want) > 0 {
				t.Errorf("switch-leaves %v: none for rooms %v, so the user stays in two rooms", got, want)
			}
			if l, _ := f.locate(1); l.room != 201 || l.joinID != 20 {
				t.Errorf("user 1 at %+v, want the join 20 in room 201", l)
			}
		})
	}
}
