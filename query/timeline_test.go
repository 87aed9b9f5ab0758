package query

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

type testTimeline struct {
	Items         []TimelineItem `json:"items"`
	NextBeforeSeq *int64         `json:"next_before_seq"`
}

// itemLine is an item as a comparable line: seq, kind and what it shows.
func itemLine(it TimelineItem) string {
	switch it.Type {
	case "message":
		return fmt.Sprintf("%d message %s: %s", it.Message.Seq, it.Message.Nickname, it.Message.Body)
	case "member_joined", "member_left":
		return fmt.Sprintf("%d %s %s %s", it.Seq, it.Type, *it.Nickname, it.Reason)
	case "member_renamed":
		return fmt.Sprintf("%d %s %s -> %s", it.Seq, it.Type, *it.Previous, *it.Nickname)
	default:
		return fmt.Sprintf("%d %s %s", it.Seq, it.Type, it.Event)
	}
}

// The timeline is the room as its sockets showed it: messages, joins and
// leaves (with the nickname of that membership) and other room events,
// newest first, in seq order with no gap; its pages of any size add up to
// the whole.
func TestTimelineShowsJoinsAndLeavesInSeqOrder(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	ann, bob := e.newID(start), e.newID(start)
	room := e.addRoom("timeline", schemas.RoomStatusOpen, 0, start)
	e.addMember(room, ann, "Ann", start.Add(time.Minute))
	e.addMessages(room, []msg{{user: ann, nickname: "Ann", body: "one", at: start.Add(2 * time.Minute)},
		{user: ann, nickname: "Ann", body: "two", at: start.Add(3 * time.Minute)}})
	e.addMember(room, bob, "밥", start.Add(4*time.Minute))
	e.addMessages(room, []msg{{user: bob, nickname: "밥", body: "안녕", at: start.Add(5 * time.Minute)}})
	e.endMembership(room, ann, start.Add(6*time.Minute))
	e.addMember(room, ann, "Ann again", start.Add(7*time.Minute))
	e.endMembership(room, ann, start.Add(8*time.Minute))
	want := []string{
		"9 member_left Ann again left",
		"8 member_joined Ann again ",
		"7 member_left Ann left",
		"6 message 밥: 안녕",
		"5 member_joined 밥 ",
		"4 message Ann: two",
		"3 message Ann: one",
		"2 member_joined Ann ",
		"1 room_event room.created",
	}

	path := "/v1/rooms/" + room.String() + "/timeline"
	for _, limit := range []int{1, 2, 4, 9, 200} {
		var got []string
		q := fmt.Sprintf("?limit=%d", limit)
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatalf("limit %d: more than 20 pages", limit)
			}
			r := e.get(path+q, "")
			wantStatus(t, r, http.StatusOK)
			page := decode[testTimeline](t, r)
			if len(page.Items) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page.Items))
			}
			for _, it := range page.Items {
				got = append(got, itemLine(it))
				if it.Type != "message" && it.At == "" {
					t.Fatalf("item without at: %+v", it)
				}
			}
			if page.NextBeforeSeq == nil {
				break
			}
			q = fmt.Sprintf("?limit=%d&before_seq=%d", limit, *page.NextBeforeSeq)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: timeline\n%s\nwant\n%s", limit, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// Member lines are the frames of the socket, with the room and user.
	r := e.get(path+"?limit=1", "")
	it := decode[testTimeline](t, r).Items[0]
	if it.RoomID != room || it.UserID != ann || it.Reason != schemas.LeftReasonLeft {
		t.Fatalf("member item %+v", it)
	}
	// Past the start: an empty last page.
	r = e.get(path+"?before_seq=1", "")
	wantStatus(t, r, http.StatusOK)
	if p := decode[testTimeline](t, r); len(p.Items) != 0 || p.NextBeforeSeq != nil {
		t.Fatalf("before the first event: %s", r.body)
	}

	// Refusals name the parameter; a proposal is as unknown as on /messages.
	for _, q := range []string{"before_seq=0", "before_seq=-1", "before_seq=x", "before_seq=", "limit=0", "limit=201", "before=5"} {
		r := e.get(path+"?"+q, "")
		wantStatus(t, r, http.StatusBadRequest)
		wantMessageNames(t, r, strings.SplitN(q, "=", 2)[0])
	}
	proposal := e.addRoom("proposal", schemas.RoomStatusProposed, bob, start)
	wantStatus(t, e.get("/v1/rooms/"+proposal.String()+"/timeline", ""), http.StatusNotFound)
	wantStatus(t, e.get("/v1/rooms/"+proposal.String()+"/timeline", e.userToken(bob)), http.StatusOK)
}

// A rename shows after a reload as it did live (issue 17): "밥 joined",
// then "밥 is now Bobby", from the projector's record of it; one the
// PostgreSQL projector has not recorded yet still takes its seq, as a
// room_event.
func TestTimelineShowsRenames(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Millisecond)
	bob := e.newID(start)
	room := e.addRoom("renames", schemas.RoomStatusOpen, 0, start)
	e.addMember(room, bob, "밥", start.Add(time.Minute))
	e.renameMember(room, bob, "밥", "Bobby", start.Add(2*time.Minute), true)
	e.addMessages(room, []msg{{user: bob, nickname: "Bobby", body: "hi", at: start.Add(3 * time.Minute)}})
	e.renameMember(room, bob, "Bobby", "Rob", start.Add(4*time.Minute), false)
	r := e.get("/v1/rooms/"+room.String()+"/timeline", "")
	wantStatus(t, r, http.StatusOK)
	var got []string
	for _, it := range decode[testTimeline](t, r).Items {
		got = append(got, itemLine(it))
	}
	want := []string{
		"5 room_event member.renamed",
		"4 message Bobby: hi",
		"3 member_renamed 밥 -> Bobby",
		"2 member_joined 밥 ",
		"1 room_event room.created",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("timeline\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
