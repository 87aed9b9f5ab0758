package query

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// The room list pages busiest first with a keyset cursor: the pages of any
// size add up to the one-page list, each room exactly once, in order, even
// where member counts and last-message times tie and where rooms have no
// message (NULLS LAST).
func TestRoomsPagination(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	for i := range 23 {
		id := e.newID(start.Add(time.Duration(i) * time.Second))
		var last *time.Time
		if i%3 != 0 {
			at := start.Add(time.Duration(i%4) * time.Minute) // ties on purpose
			last = &at
		}
		if _, err := e.pg.Exec(ctx, `INSERT INTO rooms (room_id, title, status, created_at, member_count, message_count, last_message_at)
			VALUES ($1, $2, 'open', $3, $4, $5, $6)`, int64(id), fmt.Sprint("room ", i), start, i%3, i, last); err != nil {
			t.Fatal(err)
		}
	}
	e.addRoom("proposal", schemas.RoomStatusProposed, 0, start)

	r := e.get("/v1/rooms?limit=200", "")
	wantStatus(t, r, http.StatusOK)
	whole := decode[testRooms](t, r)
	if len(whole.Rooms) != 23 || whole.NextCursor != nil {
		t.Fatalf("one page: %d rooms, next %v", len(whole.Rooms), whole.NextCursor)
	}
	want := roomIDs(whole.Rooms)

	for _, limit := range []int{1, 2, 5, 7, 22, 23, 24} {
		var got []schemas.ID
		pages, cursor := 0, ""
		for {
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			r := e.get("/v1/rooms?"+q.Encode(), "")
			wantStatus(t, r, http.StatusOK)
			page := decode[testRooms](t, r)
			if len(page.Rooms) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page.Rooms))
			}
			got = append(got, roomIDs(page.Rooms)...)
			pages++
			if page.NextCursor == nil {
				break
			}
			if len(page.Rooms) != limit {
				t.Fatalf("limit %d: a short page (%d) with a next cursor", limit, len(page.Rooms))
			}
			cursor = *page.NextCursor
		}
		if !slices.Equal(got, want) {
			t.Fatalf("limit %d: pages give %v, want %v", limit, got, want)
		}
		if wantPages := max(1, (23+limit-1)/limit); pages != wantPages {
			t.Fatalf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
	}

	// The default page is DefaultRoomsLimit rooms: a client that never sends
	// limit or cursor sees every room of a deployment of this size at once.
	r = e.get("/v1/rooms", "")
	if page := decode[testRooms](t, r); !slices.Equal(roomIDs(page.Rooms), want) || page.NextCursor != nil {
		t.Fatalf("default page: %v next %v", roomIDs(page.Rooms), page.NextCursor)
	}

	// Proposals page the same way (admins only).
	r = e.get("/v1/rooms?status=proposed&limit=1", testAdmin)
	wantStatus(t, r, http.StatusOK)
	if page := decode[testRooms](t, r); len(page.Rooms) != 1 || page.NextCursor != nil {
		t.Fatalf("proposals: %s", r.body)
	}

	// Refusals name the parameter and the rule.
	for _, q := range []string{"limit=0", "limit=201", "limit=-1", "cursor=", "cursor=abc", "cursor=" + url.QueryEscape("r1.1.-.5")} {
		r := e.get("/v1/rooms?"+q, "")
		wantStatus(t, r, http.StatusBadRequest)
		wantMessageNames(t, r, q[:5])
	}
}

// wantMessageNames checks that a refusal's message names the parameter.
func wantMessageNames(t *testing.T, r response, name string) {
	t.Helper()
	var eb struct {
		Error schemas.Error `json:"error"`
	}
	if err := schemas.StrictUnmarshal(r.body, &eb); err != nil || !strings.Contains(eb.Error.Message, name) {
		t.Fatalf("refusal %s does not name %q", r.body, name)
	}
}
