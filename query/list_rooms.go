package query

import (
	"context"
	"fmt"

	"happychat/schemas"
)

// Room list page sizes: the default is large enough that a deployment of
// ordinary size answers in one page (and a client that does not know the
// cursor sees every room there); the maximum bounds what one request costs.
const (
	DefaultRoomsLimit = 100
	MaxRoomsLimit     = 200
)

// sqlListRooms lists rooms of one status, busiest first: most members, then
// most recent message, then oldest room (a stable order for equal rooms).
// The order follows the rooms_busiest index.
//
// $3–$5 are the cursor (NULL $5: the first page): the rows strictly after
// (members, last message, room id) in that order. The first condition is
// the index's own bound, so a deep page starts its scan at the cursor's
// member count instead of filtering every busier room. $6 is the page size
// plus one (the extra row says whether a next page exists).
const sqlListRooms = `SELECT` + roomColumns + `
	FROM rooms r WHERE r.status = $2
	AND ($5::bigint IS NULL OR (r.member_count <= $3 AND (
		r.member_count < $3 OR CASE
			WHEN $4::timestamptz IS NULL THEN r.last_message_at IS NULL AND r.room_id > $5
			ELSE r.last_message_at < $4 OR r.last_message_at IS NULL OR (r.last_message_at = $4 AND r.room_id > $5)
		END)))
	ORDER BY r.member_count DESC, r.last_message_at DESC NULLS LAST, r.room_id ASC
	LIMIT $6`

// RoomsQuery asks for one page of the room list.
type RoomsQuery struct {
	Status string
	// After is the cursor of the previous page (zero: the first page).
	After roomsCursor
	Limit int
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
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	var members *int32
	var room *int64
	if !q.After.isZero() {
		m, id := q.After.Members, int64(q.After.Room)
		members, room = &m, &id
	}
	rows, err := s.pg.Query(ctx, sqlListRooms, userParam(c), q.Status, members, q.After.LastMessageAt, room, q.Limit+1)
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
			page.Next = roomsCursor{Members: last.MemberCount, LastMessageAt: last.LastMessageAt, Room: last.ID}
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
