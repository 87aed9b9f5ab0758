package query

import (
	"testing"

	"happychat/schemas"
)

// TestHideBlocked: a blocked author's messages leave a history page and
// turn into seq-keeping room_event items on a timeline page; nothing else
// changes, and no block list changes nothing.
func TestHideBlocked(t *testing.T) {
	msgs := []schemas.Message{{ID: 1, UserID: 7, Seq: 3}, {ID: 2, UserID: 8, Seq: 4}, {ID: 3, UserID: 7, Seq: 5}}
	if got := hideBlocked(append([]schemas.Message(nil), msgs...), nil); len(got) != 3 {
		t.Fatalf("no blocks: %v", got)
	}
	got := hideBlocked(append([]schemas.Message(nil), msgs...), map[schemas.ID]bool{7: true})
	if len(got) != 1 || got[0].ID != 2 {
		t.Fatalf("hidden page %v", got)
	}
	items := []TimelineItem{{Type: "message", Message: &msgs[0]}, {Type: "member_joined", UserID: 7, Seq: 2}, {Type: "message", Message: &msgs[1]}}
	hideBlockedItems(9, items, map[schemas.ID]bool{7: true})
	if items[0].Type != "room_event" || items[0].Seq != 3 || items[0].Event != schemas.TypeMessageSent || items[0].Message != nil || items[0].RoomID != 9 {
		t.Fatalf("hidden item %+v", items[0])
	}
	if items[1].Type != "member_joined" || items[2].Message == nil {
		t.Fatalf("other items changed: %+v", items)
	}
}
