package command

import (
	"slices"
	"testing"

	"happychat/schemas"
)

// TestRoomsOfRename: a rename reaches the user's current topic room, their
// private rooms and direct messages, and no room they left or were
// switched out of.
func TestRoomsOfRename(t *testing.T) {
	f := newFold(2)
	apply := func(part int32, evs ...schemas.Envelope) {
		t.Helper()
		if _, err := f.applyEvents(part, evs); err != nil {
			t.Fatal(err)
		}
	}
	apply(0,
		schemas.Envelope{ID: 10, RoomID: 100, Seq: 1, Payload: schemas.RoomCreated{Title: "t"}},
		schemas.Envelope{ID: 11, RoomID: 100, Seq: 2, UserID: 1, Payload: schemas.RoomJoined{Nickname: "a"}},
	)
	apply(1,
		schemas.Envelope{ID: 12, RoomID: 201, Seq: 1, UserID: 1, Payload: schemas.ConversationCreated{Kind: schemas.RoomKindPrivate, Title: "p"}},
		schemas.Envelope{ID: 13, RoomID: 201, Seq: 2, UserID: 1, Payload: schemas.MemberAdded{Nickname: "a"}},
		schemas.Envelope{ID: 14, RoomID: 203, Seq: 1, UserID: 2, Payload: schemas.ConversationCreated{Kind: schemas.RoomKindPrivate, Title: "q"}},
		schemas.Envelope{ID: 15, RoomID: 203, Seq: 2, UserID: 2, Payload: schemas.MemberAdded{Nickname: "b"}},
	)
	if got := f.roomsOf(1); !slices.Equal(got, []schemas.ID{100, 201}) {
		t.Fatalf("rooms of 1 = %v, want [100 201]", got)
	}
	// A join elsewhere moves the topic membership; a leave ends the private one.
	apply(0,
		schemas.Envelope{ID: 20, RoomID: 300, Seq: 1, Payload: schemas.RoomCreated{Title: "t2"}},
		schemas.Envelope{ID: 21, RoomID: 300, Seq: 2, UserID: 1, Payload: schemas.RoomJoined{Nickname: "a"}},
	)
	apply(1, schemas.Envelope{ID: 22, RoomID: 201, Seq: 3, UserID: 1, Payload: schemas.RoomLeft{}})
	if got := f.roomsOf(1); !slices.Equal(got, []schemas.ID{300}) {
		t.Fatalf("rooms of 1 = %v, want [300]", got)
	}
	if got := f.roomsOf(9); len(got) != 0 {
		t.Fatalf("rooms of a stranger = %v", got)
	}
}
