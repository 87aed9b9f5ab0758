package query

import (
	"context"
	"fmt"
	"math"

	"happychat/schemas"
)

// Window sizing from the PostgreSQL view. room_messages holds every message
// id of a room under the primary key (room_id, message_id), so the id of the
// k-th message from a cursor is a short index range scan there, where
// ClickHouse 18.16 would have to read and sort the room. The walks
// (window.go) use it to make each ClickHouse window hold just the rows asked
// for, whatever the room's history looks like: bursts, years of silence, a
// cursor far from any message. It never decides what a page contains.
const (
	sqlSeekDesc = `SELECT count(*), COALESCE(min(message_id), 0) FROM (
		SELECT message_id FROM room_messages WHERE room_id = $1 AND message_id < $2
		ORDER BY message_id DESC LIMIT $3) t`
	sqlSeekAsc = `SELECT count(*), COALESCE(max(message_id), 0) FROM (
		SELECT message_id FROM room_messages WHERE room_id = $1 AND message_id >= $2
		ORDER BY message_id ASC LIMIT $3) t`
)

// seeker returns the seekFunc of room.
func (s *Service) seeker(ctx context.Context, room schemas.ID) seekFunc {
	return func(cursor schemas.ID, desc bool, k int) (schemas.ID, int, error) {
		q := sqlSeekAsc
		if desc {
			q = sqlSeekDesc
			if cursor == 0 {
				cursor = math.MaxInt64
			}
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
		defer cancel()
		var n, edge int64
		if err := s.pg.QueryRow(ctx, q, int64(room), int64(cursor), k).Scan(&n, &edge); err != nil {
			return 0, 0, storeError(ctx, fmt.Errorf("seek in room %d: %w", room, err))
		}
		return schemas.ID(edge), int(n), nil
	}
}
