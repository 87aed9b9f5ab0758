package query

import (
	"context"
	"fmt"
	"time"

	"happychat/schemas"
)

// sqlMembers lists a room's current members, earliest joiner first. A user
// has at most one open membership per room in a consistent view; DISTINCT ON
// keeps the list right even if the projector is between two of its writes.
// Each comes with its read mark (0 for none): the greatest of its marks in
// the room, readmark.moved v1 and v2 alike.
const sqlMembers = `
	SELECT m.user_id, m.nickname, m.joined_at, COALESCE(rm.up_to, 0) FROM (
		SELECT DISTINCT ON (user_id) user_id, nickname, joined_at
		FROM members WHERE room_id = $1 AND left_at IS NULL
		ORDER BY user_id, join_event_id DESC
	) m LEFT JOIN read_marks rm ON rm.user_id = m.user_id AND rm.room_id = $1
	ORDER BY m.joined_at, m.user_id`

// GetRoom returns one room with its current members.
func (s *Service) GetRoom(ctx context.Context, c Caller, id schemas.ID) (schemas.Room, error) {
	r, err := s.loadRoom(ctx, c, id)
	if err != nil {
		return schemas.Room{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	rows, err := s.pg.Query(ctx, sqlMembers, int64(id))
	if err != nil {
		return schemas.Room{}, storeError(ctx, fmt.Errorf("members of room %d: %w", id, err))
	}
	defer rows.Close()
	members := []schemas.Member{}
	for rows.Next() {
		var (
			user, upTo int64
			nickname   string
			joined     time.Time
		)
		if err := rows.Scan(&user, &nickname, &joined, &upTo); err != nil {
			return schemas.Room{}, fmt.Errorf("members of room %d: scan: %w", id, err)
		}
		members = append(members, schemas.Member{UserID: schemas.ID(user), Nickname: nickname, JoinedAt: schemas.FormatTime(joined),
			ReadUpTo: schemas.ID(upTo)})
	}
	if err := rows.Err(); err != nil {
		return schemas.Room{}, storeError(ctx, fmt.Errorf("members of room %d: %w", id, err))
	}
	seenBy(members, c)
	room := r.api(s.cfg.Capacity)
	room.Members = &members
	return room, nil
}
