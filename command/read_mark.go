package command

import (
	"context"

	"happychat/schemas"
)

// MoveReadMark records that the caller has read room up to message upTo. The
// views keep the greatest mark, so a mark never moves back. From feature
// level 5 the mark is a room event that the room's members see
// (read_mark_room.go); below it, readmark.moved v1 on the users topic.
func (s *Service) MoveReadMark(ctx context.Context, c Caller, room, upTo schemas.ID) error {
	if err := c.needUser(); err != nil {
		return err
	}
	if upTo <= 0 {
		return badRequest("up_to must be a message id")
	}
	if !s.roomKnown(room) {
		return notFound("no such room")
	}
	if err := allow(s.limits.readMark, c.UserID, slowDown); err != nil {
		return err
	}
	if s.level.Load() >= readMarkRoomLevel {
		return s.moveRoomReadMark(ctx, c, room, upTo)
	}
	id, err := s.mintID()
	if err != nil {
		return err
	}
	env := schemas.Envelope{ID: id, UserID: c.UserID, RoomID: room, OccurredAt: s.now(),
		Payload: schemas.ReadMarkMoved{UpTo: upTo}}
	return s.appendUserEvent(ctx, env)
}

// roomKnown reports whether the fold has seen the room's creation.
func (s *Service) roomKnown(room schemas.ID) bool {
	select {
	case <-s.running:
	default:
		return false
	}
	r := s.fold.parts[s.partitionOf(room)].room(room)
	return r != nil && r.status != ""
}
