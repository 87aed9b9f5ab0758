package query

import (
	"context"
	"fmt"

	"happychat/schemas"
)

// The timeline's lines of the level-5 moderation events: a kick, or a ban
// that ended a membership, reads "X was removed (banned) by Y" as the live
// member_left frame did, from the projector's audit table (moderation).
// A ban of a non-member, an unban and a close stay room_event items.

// sqlTimelineModeration: each kick's and each member's ban's names and
// reason, by event id.
const sqlTimelineModeration = `SELECT event_id, action, nickname, COALESCE(by_user, 0), by_nickname, reason
	FROM moderation
	WHERE room_id = $1 AND event_id = ANY($2) AND action IN ('removed', 'banned')`

// timelineModeration adds to out the member lines of evs' kicks and bans;
// a ban that ended no membership gets none (it has no nickname line).
func (s *Service) timelineModeration(ctx context.Context, room schemas.ID, evs []timelineEvent, out map[uint64]memberName) error {
	var ids []int64
	for _, ev := range evs {
		if ev.typ == schemas.TypeMemberRemoved || ev.typ == schemas.TypeMemberBanned {
			ids = append(ids, int64(ev.id))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.pg.Query(ctx, sqlTimelineModeration, int64(room), ids)
	if err != nil {
		return storeError(ctx, fmt.Errorf("timeline moderation of room %d: %w", room, err))
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, by int64
			n      memberName
		)
		if err := rows.Scan(&id, &n.reason, &n.nickname, &by, &n.byNickname, &n.note); err != nil {
			return fmt.Errorf("timeline moderation of room %d: scan: %w", room, err)
		}
		if n.nickname == "" {
			continue // a ban of someone who was not a member
		}
		n.by = schemas.ID(by)
		out[uint64(id)] = n
	}
	if err := rows.Err(); err != nil {
		return storeError(ctx, fmt.Errorf("timeline moderation of room %d: %w", room, err))
	}
	return nil
}
