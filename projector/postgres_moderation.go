package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"happychat/schemas"
)

// moderation applies a level-5 event to the PostgreSQL views: a kick, or a
// ban of a current member, ends the membership as a leave does (its seat is
// free, its reason 'removed' or 'banned'); a close sets the room's status;
// every one of them is a row of the moderation table (the audit).
func (b *pgBatch) moderation(ctx context.Context, r *roomRow, env schemas.Envelope) error {
	var (
		action, byNick, nick, reason, ends string
		by                                 schemas.ID
	)
	switch p := env.Payload.(type) {
	case schemas.MemberRemoved:
		action, by, byNick, nick, reason, ends = schemas.LeftReasonRemoved, p.By, p.ByNickname, p.Nickname, p.Reason, schemas.LeftReasonRemoved
	case schemas.MemberBanned:
		action, by, byNick, reason = schemas.LeftReasonBanned, p.By, p.ByNickname, p.Reason
		if p.Member {
			// The nickname only with a membership ended: the timeline
			// draws a member line exactly for those.
			ends, nick = schemas.LeftReasonBanned, p.Nickname
		}
	case schemas.MemberUnbanned:
		action, by, byNick = "unbanned", p.By, p.ByNickname
	case schemas.RoomClosed:
		action, reason = schemas.RoomStatusClosed, p.Reason
		if r.status == schemas.RoomStatusOpen {
			r.status = schemas.RoomStatusClosed
		}
	}
	if ends != "" {
		var wasOpen bool
		err := b.tx.QueryRow(ctx, pgCloseMember, r.id, int64(env.UserID), int64(env.ID), env.OccurredAt, ends).Scan(&wasOpen)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("%s: close membership: %w", env.Type, err)
		case wasOpen:
			r.memberCount--
		}
	}
	b.later.Queue(pgRecordModeration, r.id, int64(env.ID), env.Seq, action, nullID(env.UserID), nullID(by), byNick, nick, reason, env.OccurredAt)
	return nil
}

// nullID is an id column's value: NULL for the zero id.
func nullID(id schemas.ID) *int64 {
	if id == 0 {
		return nil
	}
	v := int64(id)
	return &v
}
