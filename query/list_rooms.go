package query

import (
	"context"
	"fmt"
	"time"

	"happychat/schemas"
)

// Room list page sizes: the default is large enough that a deployment of
// ordinary size answers in one page (and a client that does not know the
// cursor sees every room there); the maximum bounds what one request costs.
const (
	DefaultRoomsLimit = 100
	MaxRoomsLimit     = 200
)

// MaxSearchRunes bounds q, the title search: a title is at most 100 code
// points, so a longer search matches nothing anyway.
const MaxSearchRunes = 100

// The search and the mine filter are the same two conditions in both
// orders. q ($q) is matched anywhere in the title, case-insensitively
// (lower() on both sides; the service lowers q already); strpos instead of
// LIKE so that '%' and '_' in a search are plain characters. mine keeps the
// rooms with a members row of the caller ($1), current or ended. Neither
// has an index: the list reads the open rooms of a status, which a
// deployment counts in thousands, and the page limit bounds what is sorted
// and returned.
const (
	sqlRoomsFilterBusiest = `
	AND ($7::text IS NULL OR strpos(lower(r.title), $7) > 0)
	AND (NOT $8::boolean OR EXISTS (SELECT 1 FROM members mb WHERE mb.room_id = r.room_id AND mb.user_id = $1))`
	sqlRoomsFilterNew = `
	AND ($6::text IS NULL OR strpos(lower(r.title), $6) > 0)
	AND (NOT $7::boolean OR EXISTS (SELECT 1 FROM members mb WHERE mb.room_id = r.room_id AND mb.user_id = $1))`
)

// sqlListRooms lists topic rooms of one status (private rooms and direct
// messages are never listed: GET /v1/conversations lists the caller's), busiest first: most members, then
// most recent message, then oldest room (a stable order for equal rooms).
// The order follows the rooms_busiest index.
//
// $3–$5 are the cursor (NULL $5: the first page): the rows strictly after
// (members, last message, room id) in that order. The first condition is
// the index's own bound, so a deep page starts its scan at the cursor's
// member count instead of filtering every busier room. $6 is the page size
// plus one (the extra row says whether a next page exists); $7 and $8 the
// filters above.
const sqlListRooms = `SELECT` + roomColumns + `
	FROM rooms r WHERE r.status = $2 AND r.kind = 'topic'
	AND ($5::bigint IS NULL OR (r.member_count <= $3 AND (
		r.member_count < $3 OR CASE
			WHEN $4::timestamptz IS NULL THEN r.last_message_at IS NULL AND r.room_id > $5
			ELSE r.last_message_at < $4 OR r.last_message_at IS NULL OR (r.last_message_at = $4 AND r.room_id > $5)
		END)))` + sqlRoomsFilterBusiest + `
	ORDER BY r.member_count DESC, r.last_message_at DESC NULLS LAST, r.room_id ASC
	LIMIT $6`

// sqlListRoomsNew lists rooms of one status, newest first: by listed_at
// (approval, or creation for an operator's room), then room id. $3 and $4
// are the cursor (NULL $4: the first page), $5 the page size plus one, $6
// and $7 the filters.
const sqlListRoomsNew = `SELECT` + roomColumns + `
	FROM rooms r WHERE r.status = $2 AND r.kind = 'topic'
	AND ($4::bigint IS NULL OR (COALESCE(r.approved_at, r.created_at), r.room_id) < ($3::timestamptz, $4))` + sqlRoomsFilterNew + `
	ORDER BY COALESCE(r.approved_at, r.created_at) DESC, r.room_id DESC
	LIMIT $5`

// RoomsQuery asks for one page of the room list.
type RoomsQuery struct {
	Status string
	// Sort is SortBusiest or SortNew.
	Sort string
	// Q, if not empty, keeps the rooms whose title contains it, in any
	// case; the binder has trimmed and lowered it.
	Q string
	// Mine keeps the rooms the caller is or has been a member of.
	Mine bool
	// After is the cursor of the previous page (zero: the first page); the
	// binder has checked that it belongs to this list.
	After roomsCursor
	Limit int
}

// list is the cursor's name for the list q asks for.
func (q RoomsQuery) list() roomsList {
	return roomsList{Sort: q.Sort, Mine: q.Mine, QHash: searchHash(q.Q)}
}

// RoomsPage is one page of rooms; Next is zero when no room lay beyond it
// at the time of the read.
type RoomsPage struct {
	Rooms []schemas.Room
	Next  roomsCursor
}

// ListRooms returns a page of the rooms of q.Status as caller sees them:
// open rooms for anyone, proposals only for admins. Unread counts are
// filled in for users. A room whose rank changes between two pages (a
// member joins, a message arrives) may be seen twice or not at all, as in
// any list ordered by live counters; every room that keeps its rank is seen
// exactly once.
func (s *Service) ListRooms(ctx context.Context, c Caller, q RoomsQuery) (RoomsPage, error) {
	if q.Status == schemas.RoomStatusProposed && !c.Admin {
		return RoomsPage{}, schemas.Errorf(schemas.CodeForbidden, "only admins may list proposed rooms")
	}
	if q.Mine && c.UserID == 0 {
		return RoomsPage{}, badRequest("mine=true needs a user token: it lists the rooms of the caller")
	}
	if q.Sort == "" {
		q.Sort = SortBusiest
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	var search *string
	if q.Q != "" {
		search = &q.Q
	}
	var room *int64
	if !q.After.isZero() {
		id := int64(q.After.Room)
		room = &id
	}
	sql, args := sqlListRooms, []any{userParam(c), q.Status, nil, q.After.At, room, q.Limit + 1, search, q.Mine}
	if q.Sort == SortNew {
		sql, args = sqlListRoomsNew, []any{userParam(c), q.Status, q.After.At, room, q.Limit + 1, search, q.Mine}
	} else if room != nil {
		args[2] = q.After.Members
	}
	rows, err := s.pg.Query(ctx, sql, args...)
	if err != nil {
		return RoomsPage{}, storeError(ctx, fmt.Errorf("list rooms: %w", err))
	}
	defer rows.Close()
	page := RoomsPage{Rooms: []schemas.Room{}}
	var last roomRow
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return RoomsPage{}, fmt.Errorf("list rooms: scan: %w", err)
		}
		if len(page.Rooms) == q.Limit {
			page.Next = nextRoomsCursor(q, last)
			break
		}
		page.Rooms = append(page.Rooms, r.api(s.cfg.Capacity))
		last = r
	}
	if err := rows.Err(); err != nil {
		return RoomsPage{}, storeError(ctx, fmt.Errorf("list rooms: %w", err))
	}
	return page, nil
}

// nextRoomsCursor is the cursor after room last in q's list.
func nextRoomsCursor(q RoomsQuery, last roomRow) roomsCursor {
	c := roomsCursor{list: q.list(), Room: last.ID}
	if q.Sort == SortNew {
		// The cursor keeps microseconds, as PostgreSQL does.
		at := last.ListedAt.Truncate(time.Microsecond)
		c.At = &at
		return c
	}
	c.Members, c.At = last.MemberCount, last.LastMessageAt
	return c
}
