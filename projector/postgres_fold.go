package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// How each event changes the PostgreSQL views, folded into a pgBatch.

// apply folds one record into the batch.
func (b *pgBatch) apply(ctx context.Context, rec *feed.Record) error {
	if rec.Err != nil {
		b.deadLetter(rec, rec.Err.Error())
		return nil
	}
	env := rec.Env
	switch rec.Topic {
	case b.s.names.Rooms:
		switch env.Payload.(type) {
		case schemas.RoomCreated, schemas.RoomProposed, schemas.RoomApproved, schemas.RoomRejected, schemas.RoomJoined, schemas.RoomLeft,
			schemas.MemberRenamed, schemas.MessageSent,
			// The PostgreSQL views hold no text and count a deleted
			// message still (its place in the unread count stays): a
			// change of a message only advances the room's seq.
			schemas.MessageEdited, schemas.MessageDeleted, schemas.ReactionAdded, schemas.ReactionRemoved,
			// Level 4; an invite is not in the views (the command
			// service decides its uses): it only advances the seq.
			schemas.ConversationCreated, schemas.MemberAdded, schemas.InviteCreated,
			// Level 5: moderation (postgres_moderation.go), blocks and
			// reports (postgres_blocks_reports.go).
			schemas.MemberRemoved, schemas.MemberBanned, schemas.MemberUnbanned, schemas.RoomClosed,
			schemas.BlockAdded, schemas.BlockRemoved, schemas.ReportFiled, schemas.ReportResolved:
			return b.roomEvent(ctx, rec)
		case schemas.ReadMarkMoved:
			// Level 5: a read mark the room sees (v2, with a seq; a v1
			// has none and belongs on the users topic).
			if env.Seq > 0 {
				return b.roomEvent(ctx, rec)
			}
		}
	case b.s.names.Users:
		switch p := env.Payload.(type) {
		case schemas.UserRegistered:
			b.later.Queue(pgInsertUser, int64(env.UserID), p.Nickname, env.OccurredAt)
			return nil
		case schemas.UserRenamed:
			// Queued after the user's registration (same partition, same
			// order); the rooms follow through member.renamed.
			b.later.Queue(pgRenameUser, int64(env.UserID), p.Nickname)
			return nil
		case schemas.ReadMarkMoved:
			if env.Seq > 0 {
				break // v2 belongs on the rooms topic
			}
			b.later.Queue(pgMoveReadMark, int64(env.UserID), int64(env.RoomID), int64(p.UpTo))
			return nil
		case schemas.SessionRevoked:
			// Known and deliberately not projected: no view shows
			// sessions, and the services that enforce revocations read
			// them from the log (internal/revoked). Not dead-lettered.
			return nil
		}
	default:
		return nil
	}
	b.deadLetter(rec, fmt.Sprintf("event %s does not belong on topic %s", env.Type, rec.Topic))
	return nil
}

func (b *pgBatch) deadLetter(rec *feed.Record, reason string) {
	if b.s.deadLog.Allow() {
		b.s.log.Warn("dead letter: record skipped", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "reason", reason)
	}
	b.later.Queue(pgDeadLetter, b.s.name, rec.Topic, rec.Partition, rec.Offset, rec.Key, rec.Value, reason)
	b.dead++
}

func (b *pgBatch) anomaly(kind string, rec *feed.Record, args ...any) {
	b.s.m.anomalies.WithLabelValues(b.s.name, kind).Inc()
	b.s.log.Warn("log anomaly: "+kind, append([]any{"room", rec.Env.RoomID, "seq", rec.Env.Seq, "type", rec.Env.Type,
		"partition", rec.Partition, "offset", rec.Offset}, args...)...)
}

// roomEvent applies a room event if it is the room's next one (seq gate):
// an event at or below the room's last seq was applied already.
func (b *pgBatch) roomEvent(ctx context.Context, rec *feed.Record) error {
	env := rec.Env
	r := b.rooms[int64(env.RoomID)]
	if r == nil {
		r = newRoomRow(env)
		if r == nil {
			b.deadLetter(rec, "event for a room that was never created")
			return nil
		}
		b.rooms[r.id] = r
	} else if env.Seq <= r.lastSeq {
		return nil // a duplicate: the view already holds it
	} else {
		switch env.Payload.(type) {
		case schemas.RoomCreated, schemas.RoomProposed, schemas.ConversationCreated:
			b.anomaly("room_created_twice", rec)
		}
	}
	if env.Seq != r.lastSeq+1 {
		b.anomaly("seq_gap", rec, "last_seq", r.lastSeq)
	}
	at := env.OccurredAt
	switch p := env.Payload.(type) {
	case schemas.RoomApproved:
		if r.status != schemas.RoomStatusOpen {
			r.status = schemas.RoomStatusOpen
			r.approvedAt = &at
		}
	case schemas.RoomRejected:
		// A proposal turned down stays a row (its proposer still reads it)
		// but no list shows it: lists filter by status.
		if r.status == schemas.RoomStatusProposed {
			r.status = schemas.RoomStatusRejected
		}
	case schemas.MessageSent:
		r.messageCount++
		id := int64(env.ID)
		r.lastMessageAt, r.lastMessageID = &at, &id
		b.msgRoom = append(b.msgRoom, r.id)
		b.msgID = append(b.msgID, id)
		b.msgSeq = append(b.msgSeq, env.Seq)
		b.msgOrd = append(b.msgOrd, r.messageCount)
	case schemas.RoomJoined:
		if err := b.joined(ctx, r, env, p); err != nil {
			return err
		}
	case schemas.RoomLeft:
		if err := b.left(ctx, r, env, p); err != nil {
			return err
		}
	case schemas.ConversationCreated:
		var peer *int64
		if p.Peer != 0 {
			id := int64(p.Peer)
			peer = &id
		}
		b.later.Queue(pgRoomKind, r.id, p.Kind, peer)
	case schemas.MemberAdded:
		var added bool
		err := b.tx.QueryRow(ctx, pgAddMember, r.id, int64(env.UserID), int64(env.ID), p.Nickname, env.OccurredAt).Scan(&added)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("add member: %w", err)
		default:
			r.memberCount++
		}
	case schemas.MemberRemoved, schemas.MemberBanned, schemas.MemberUnbanned, schemas.RoomClosed:
		if err := b.moderation(ctx, r, env); err != nil {
			return err
		}
	case schemas.MemberRenamed:
		// Run now, like the joins and leaves around it: a leave later in
		// the batch must find the renamed row.
		if _, err := b.tx.Exec(ctx, pgRenameMember, r.id, int64(env.UserID), int64(env.ID), p.Nickname); err != nil {
			return fmt.Errorf("rename member: %w", err)
		}
		if _, err := b.tx.Exec(ctx, pgRecordRename, r.id, int64(env.ID), int64(env.UserID), p.Previous, p.Nickname); err != nil {
			return fmt.Errorf("record rename: %w", err)
		}
	case schemas.ReadMarkMoved:
		// The same view as v1 from the users topic: the greatest mark
		// wins, so the two overlapping during an upgrade is harmless.
		b.later.Queue(pgMoveReadMark, int64(env.UserID), r.id, int64(p.UpTo))
	case schemas.BlockAdded, schemas.BlockRemoved, schemas.ReportFiled, schemas.ReportResolved:
		b.blocksReports(env)
	}
	r.lastSeq = env.Seq
	r.dirty = true
	return nil
}

// newRoomRow returns the row a creation event starts, nil for any other event.
func newRoomRow(env schemas.Envelope) *roomRow {
	r := &roomRow{id: int64(env.RoomID), createdAt: env.OccurredAt}
	switch p := env.Payload.(type) {
	case schemas.RoomCreated:
		r.title, r.description, r.status = p.Title, p.Description, schemas.RoomStatusOpen
		if env.UserID > 0 {
			by := int64(env.UserID)
			r.createdBy = &by
		}
	case schemas.RoomProposed:
		r.title, r.description, r.status = p.Title, p.Description, schemas.RoomStatusProposed
		by := int64(env.UserID)
		r.createdBy = &by
	case schemas.ConversationCreated:
		r.title, r.description, r.status = p.Title, p.Description, schemas.RoomStatusOpen
		by := int64(env.UserID)
		r.createdBy = &by
	default:
		return nil
	}
	return r
}

// joined records a membership (see pgJoin): it may be over already, and it
// ends the user's earlier memberships.
func (b *pgBatch) joined(ctx context.Context, r *roomRow, env schemas.Envelope, p schemas.RoomJoined) error {
	rows, err := b.tx.Query(ctx, pgJoin, r.id, int64(env.UserID), int64(env.ID), p.Nickname, env.OccurredAt)
	if err != nil {
		return fmt.Errorf("join: %w", err)
	}
	var emptied []int64
	var room int64
	var flag bool
	if _, err := pgx.ForEachRow(rows, []any{&room, &flag}, func() error {
		switch {
		case room == 0 && flag:
			r.memberCount++
		case room != 0:
			emptied = append(emptied, room)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	for _, room := range emptied {
		if err := b.decMembers(ctx, room); err != nil {
			return err
		}
	}
	return nil
}

// left ends the user's membership of the room, unless an earlier event
// (a later join elsewhere with a smaller id) already did.
func (b *pgBatch) left(ctx context.Context, r *roomRow, env schemas.Envelope, p schemas.RoomLeft) error {
	var wasOpen bool
	err := b.tx.QueryRow(ctx, pgCloseMember, r.id, int64(env.UserID), int64(env.ID), env.OccurredAt, p.Reason).Scan(&wasOpen)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("close membership: %w", err)
	}
	if wasOpen {
		r.memberCount--
	}
	return nil
}

// decMembers counts one current member less in room. Rooms of the batch
// are counted in memory; others (in partitions this batch does not touch)
// are updated in place.
func (b *pgBatch) decMembers(ctx context.Context, room int64) error {
	if r := b.rooms[room]; r != nil {
		r.memberCount--
		r.dirty = true
		return nil
	}
	if _, err := b.tx.Exec(ctx, pgDecMembers, room); err != nil {
		return fmt.Errorf("decrement members of %d: %w", room, err)
	}
	return nil
}
