package query

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"happychat/schemas"
)

// walkRooms reads every page of the list that query names, limit rooms a
// page, following next_cursor with the same parameters.
func walkRooms(t *testing.T, e *testEnv, query url.Values, bearer string, limit string) []schemas.ID {
	t.Helper()
	var got []schemas.ID
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("limit", limit)
	for range 100 {
		r := e.get("/v1/rooms?"+q.Encode(), bearer)
		wantStatus(t, r, http.StatusOK)
		page := decode[testRooms](t, r)
		got = append(got, roomIDs(page.Rooms)...)
		if page.NextCursor == nil {
			return got
		}
		q.Set("cursor", *page.NextCursor)
	}
	t.Fatalf("%v: more than 100 pages", query)
	return nil
}

// Search, newest first and mine filter the list on the server, in any case
// and script, and page through the same cursor as the plain list: every
// page size gives the one-page answer.
func TestRoomsSearchSortAndMine(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	user, other := e.newID(start), e.newID(start)
	// A unique word keeps this test's rooms apart from other tests' rooms in
	// the shared database.
	tag := "zq" + e.newID(start).String()[10:]

	happy := e.addRoom("Happy CATS "+tag, schemas.RoomStatusOpen, 0, start)
	korean := e.addRoom("고양이 사랑 "+tag, schemas.RoomStatusOpen, 0, start.Add(time.Second))
	lovers := e.addRoom("cat lovers "+tag, schemas.RoomStatusOpen, 0, start.Add(2*time.Second))
	percent := e.addRoom("100% cats "+tag, schemas.RoomStatusOpen, 0, start.Add(3*time.Second))
	dogs := e.addRoom("dogs "+tag, schemas.RoomStatusOpen, 0, start.Add(4*time.Second))
	proposal := e.addRoom("cats proposal "+tag, schemas.RoomStatusProposed, user, start.Add(5*time.Second))
	// An old proposal approved just now is new: sort=new goes by the opening.
	approved := e.addRoom("approved cats "+tag, schemas.RoomStatusOpen, user, start.Add(-24*time.Hour))
	if _, err := e.pg.Exec(ctx, `UPDATE rooms SET approved_at = $2 WHERE room_id = $1`, int64(approved), start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	e.addMember(lovers, other, "other", start)
	e.addMember(lovers, user, "user", start)
	e.addMember(percent, user, "user", start)
	e.endMembership(percent, user, start.Add(time.Second))
	e.addMember(korean, user, "user", start.Add(2*time.Second))
	e.addMessages(happy, spread(2, start.Add(time.Minute), time.Second, other))

	tok := e.userToken(user)
	// Every search names the tag, or it would also see other tests' rooms.
	cases := []struct {
		name   string
		query  url.Values
		bearer string
		want   []schemas.ID
	}{
		// Busiest: members, then the latest message, then the oldest room.
		{"search, any case", url.Values{"q": {"CATS " + tag}}, "", []schemas.ID{happy, approved, percent}},
		{"search in Korean", url.Values{"q": {"고양이 사랑 " + tag}}, "", []schemas.ID{korean}},
		{"search trimmed and lowered", url.Values{"q": {"  HAPPY cats " + tag + " "}}, "", []schemas.ID{happy}},
		{"percent is a plain character", url.Values{"q": {"100% cats " + tag}}, "", []schemas.ID{percent}},
		{"no match", url.Values{"q": {"giraffe " + tag}}, "", nil},
		{"newest first", url.Values{"q": {tag}, "sort": {"new"}}, "", []schemas.ID{approved, dogs, percent, lovers, korean, happy}},
		{"mine: current and past rooms", url.Values{"mine": {"true"}}, tok, []schemas.ID{lovers, korean, percent}},
		{"mine, newest first", url.Values{"mine": {"true"}, "sort": {"new"}}, tok, []schemas.ID{percent, lovers, korean}},
		{"mine and a search", url.Values{"mine": {"true"}, "q": {"CAT"}}, tok, []schemas.ID{lovers, percent}},
		{"mine, searched, newest first", url.Values{"mine": {"true"}, "q": {"cat"}, "sort": {"new"}}, tok, []schemas.ID{percent, lovers}},
		{"mine of another user", url.Values{"mine": {"true"}}, e.userToken(other), []schemas.ID{lovers}},
		{"proposals searched", url.Values{"status": {"proposed"}, "q": {tag}}, testAdmin, []schemas.ID{proposal}},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []string{"1", "2", "200"} {
				if got := walkRooms(t, e, c.query, c.bearer, limit); !slices.Equal(got, c.want) {
					t.Fatalf("limit %s: %v, want %v", limit, got, c.want)
				}
			}
		})
	}

	// A cursor continues its own list only; the same search in another case
	// or with other spaces is the same list.
	r := e.get("/v1/rooms?limit=1&sort=new&q="+url.QueryEscape(tag), "")
	wantStatus(t, r, http.StatusOK)
	cursor := *decode[testRooms](t, r).NextCursor
	for _, q := range []string{"q=" + url.QueryEscape(" "+tag+" ") + "&sort=new", "q=" + url.QueryEscape(tag) + "&sort=new"} {
		wantStatus(t, e.get("/v1/rooms?limit=1&cursor="+cursor+"&"+q, ""), http.StatusOK)
	}
	for _, q := range []string{"q=" + url.QueryEscape(tag), "sort=new", "q=dogs&sort=new", "q=" + url.QueryEscape(tag) + "&sort=new&mine=true"} {
		r := e.get("/v1/rooms?limit=1&cursor="+cursor+"&"+q, tok)
		wantStatus(t, r, http.StatusBadRequest)
		wantMessageNames(t, r, "cursor")
	}
	// mine needs a user: the admin token has none.
	r = e.get("/v1/rooms?mine=true", testAdmin)
	wantStatus(t, r, http.StatusBadRequest)
	wantMessageNames(t, r, "mine")
}
