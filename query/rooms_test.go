package query

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"happychat/schemas"
)

type testRooms struct {
	Rooms      []schemas.Room `json:"rooms"`
	NextCursor *string        `json:"next_cursor"`
}

func roomIDs(rs []schemas.Room) []schemas.ID {
	out := make([]schemas.ID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestRoomsListAndDetails(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	alice, bob, carol := e.newID(start), e.newID(start), e.newID(start)

	quiet := e.addRoom("quiet", schemas.RoomStatusOpen, 0, start)
	busy := e.addRoom("busy", schemas.RoomStatusOpen, 0, start.Add(time.Second))
	chatty := e.addRoom("chatty", schemas.RoomStatusOpen, 0, start.Add(2*time.Second))
	proposal := e.addRoom("cats please", schemas.RoomStatusProposed, carol, start.Add(3*time.Second))
	e.addMember(busy, alice, "alice", start.Add(time.Minute))
	e.addMember(busy, bob, "bob 🐻", start.Add(2*time.Minute))
	e.addMember(chatty, carol, "carol", start.Add(time.Minute))
	e.addMessages(chatty, spread(5, start.Add(10*time.Minute), time.Second, carol))
	e.addMessages(quiet, spread(2, start.Add(5*time.Minute), time.Second, alice))

	// Busiest first: members, then the latest message, then the oldest.
	r := e.get("/v1/rooms", "")
	wantStatus(t, r, http.StatusOK)
	got := decode[testRooms](t, r).Rooms
	if want := []schemas.ID{busy, chatty, quiet}; !slices.Equal(roomIDs(got), want) {
		t.Fatalf("open rooms %v, want %v", roomIDs(got), want)
	}
	for _, room := range got {
		if room.Unread != nil || room.Members != nil || room.Capacity != testCapacity {
			t.Fatalf("anonymous list: %+v", room)
		}
	}
	if got[1].MessageCount != 5 || got[1].LastMessageAt == nil || got[0].LastMessageAt != nil || got[0].MemberCount != 2 {
		t.Fatalf("counters: %+v", got)
	}

	// Proposals: admins only.
	wantStatus(t, e.get("/v1/rooms?status=proposed", ""), http.StatusForbidden)
	wantStatus(t, e.get("/v1/rooms?status=proposed", e.userToken(carol)), http.StatusForbidden)
	r = e.get("/v1/rooms?status=proposed", testAdmin)
	wantStatus(t, r, http.StatusOK)
	if ids := roomIDs(decode[testRooms](t, r).Rooms); !slices.Equal(ids, []schemas.ID{proposal}) {
		t.Fatalf("proposals %v", ids)
	}
	// A proposal is seen by its proposer and admins only.
	wantStatus(t, e.get("/v1/rooms/"+proposal.String(), ""), http.StatusNotFound)
	wantStatus(t, e.get("/v1/rooms/"+proposal.String(), e.userToken(alice)), http.StatusNotFound)
	wantStatus(t, e.get("/v1/rooms/"+proposal.String(), e.userToken(carol)), http.StatusOK)
	wantStatus(t, e.get("/v1/rooms/"+proposal.String(), testAdmin), http.StatusOK)
	wantStatus(t, e.get("/v1/rooms/"+proposal.String()+"/messages", ""), http.StatusNotFound)

	// Details with members, earliest joiner first.
	r = e.get("/v1/rooms/"+busy.String(), "")
	wantStatus(t, r, http.StatusOK)
	room := decode[schemas.Room](t, r)
	if room.Members == nil || len(*room.Members) != 2 {
		t.Fatalf("members %+v", room.Members)
	}
	m := *room.Members
	if m[0].UserID != alice || m[1].UserID != bob || m[1].Nickname != "bob 🐻" || m[0].JoinedAt != schemas.FormatTime(start.Add(time.Minute)) {
		t.Fatalf("members %+v", m)
	}
	r = e.get("/v1/rooms/"+quiet.String(), "")
	wantStatus(t, r, http.StatusOK)
	if room := decode[schemas.Room](t, r); room.Members == nil || len(*room.Members) != 0 {
		t.Fatalf("a room without members must list [] members: %s", r.body)
	}
	wantStatus(t, e.get("/v1/rooms/12345", ""), http.StatusNotFound)
}

// Unread = messages after the caller's read mark; no mark, all unread.
func TestUnreadFollowsReadMarks(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	reader, writer := e.newID(start), e.newID(start)
	room := e.addRoom("mailbox", schemas.RoomStatusOpen, 0, start)
	other := e.addRoom("other", schemas.RoomStatusOpen, 0, start)
	stranger := e.addRoom("never joined", schemas.RoomStatusOpen, 0, start)
	e.addMember(room, reader, "reader", start)
	e.addMember(room, writer, "writer", start)
	// reader was in other and left it: unread stays, as for any room it was in.
	e.addMember(other, reader, "reader", start)
	e.endMembership(other, reader, start.Add(time.Second))
	msgs := e.addMessages(room, spread(30, start.Add(time.Minute), time.Second, writer))
	e.addMessages(other, spread(3, start.Add(time.Minute), time.Second, writer))
	e.addMessages(stranger, spread(7, start.Add(time.Minute), time.Second, writer))
	tok := e.userToken(reader)

	unread := func() (inList, inRoom int64) {
		t.Helper()
		r := e.get("/v1/rooms", tok)
		wantStatus(t, r, http.StatusOK)
		for _, rm := range decode[testRooms](t, r).Rooms {
			switch rm.ID {
			case room:
				if rm.Unread == nil {
					t.Fatalf("no unread in the caller's room: %s", r.body)
				}
				inList = *rm.Unread
			case other:
				if rm.Unread == nil || *rm.Unread != 3 {
					t.Fatalf("unread in a room the caller left %v, want 3", rm.Unread)
				}
			case stranger:
				if rm.Unread != nil {
					t.Fatalf("unread %d in a room the caller never joined", *rm.Unread)
				}
			}
		}
		r = e.get("/v1/rooms/"+room.String(), tok)
		wantStatus(t, r, http.StatusOK)
		return inList, *decode[schemas.Room](t, r).Unread
	}
	steps := []struct {
		name string
		mark schemas.ID // 0: no mark yet
		want int64
	}{
		{"no read mark", 0, 30},
		{"read the first", msgs[0].ID, 29},
		{"read ten", msgs[9].ID, 20},
		{"a mark between two ids", msgs[19].ID + 1, 10},
		{"a mark never moves back", msgs[3].ID, 10},
		{"read all", msgs[29].ID, 0},
		{"a mark past the newest", msgs[29].ID + 1000, 0},
	}
	for _, st := range steps {
		if st.mark != 0 {
			e.setReadMark(reader, room, st.mark)
		}
		if l, r := unread(); l != st.want || r != st.want {
			t.Fatalf("%s: unread %d in the list, %d on the room, want %d", st.name, l, r, st.want)
		}
	}
	// New messages are unread again.
	e.addMessages(room, spread(4, start.Add(time.Hour), time.Second, writer))
	if l, _ := unread(); l != 4 {
		t.Fatalf("after 4 new messages: unread %d", l)
	}
	// Another user's marks do not count; a room one never joined has no
	// unread on its detail either; admins see no unread.
	r := e.get("/v1/rooms/"+room.String(), e.userToken(writer))
	if u := decode[schemas.Room](t, r).Unread; u == nil || *u != 34 {
		t.Fatalf("writer's unread %v, want 34", u)
	}
	r = e.get("/v1/rooms/"+stranger.String(), tok)
	wantStatus(t, r, http.StatusOK)
	if u := decode[schemas.Room](t, r).Unread; u != nil {
		t.Fatalf("unread %d on the detail of a room never joined", *u)
	}
	r = e.get("/v1/rooms/"+room.String(), testAdmin)
	if u := decode[schemas.Room](t, r).Unread; u != nil {
		t.Fatalf("admin sees unread %d", *u)
	}
}

func TestChecks(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for _, c := range e.svc.Checks() {
		if err := c.Ping(context.Background()); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}
