package query

import (
	"context"
	"fmt"

	"happychat/schemas"
)

// sqlListRooms lists rooms of one status, busiest first: most members, then
// most recent message, then oldest room (a stable order for equal rooms).
// The order follows the rooms_busiest index.
const sqlListRooms = `SELECT` + roomColumns + `
	FROM rooms r WHERE r.status = $2
	ORDER BY r.member_count DESC, r.last_message_at DESC NULLS LAST, r.room_id ASC`

// ListRooms returns the rooms of status as caller sees them: open rooms for
// anyone, proposals only for admins. Unread counts are filled in for users.
func (s *Service) ListRooms(ctx context.Context, c Caller, status string) ([]schemas.Room, error) {
	if status == schemas.RoomStatusProposed && !c.Admin {
		return nil, schemas.Errorf(schemas.CodeForbidden, "only admins may list proposed rooms")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlListRooms, userParam(c), status)
	if err != nil {
		return nil, storeError(ctx, fmt.Errorf("list rooms: %w", err))
	}
	defer rows.Close()
	rooms := []schemas.Room{}
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, fmt.Errorf("list rooms: scan: %w", err)
		}
		rooms = append(rooms, r.api(s.cfg.Capacity))
	}
	if err := rows.Err(); err != nil {
		return nil, storeError(ctx, fmt.Errorf("list rooms: %w", err))
	}
	return rooms, nil
}
