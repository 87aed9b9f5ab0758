package command

import (
	"context"

	"happychat/schemas"
)

// A read mark the room sees (feature level 5, docs/adr/0010): the room's
// owner appends readmark.moved v2 to the rooms topic, with a seq, so every
// member's socket and stream gets it in order with the messages it covers.
// The owner's fold keeps each current member's mark (member.readUpTo, at
// most 20 a room), which decides whether a mark moves forward.

// readMarkRoomLevel is the cluster feature level from which marks are room
// events; below it they stay readmark.moved v1 on the users topic.
var readMarkRoomLevel = int32(schemas.Events.LevelOf(schemas.TypeReadMarkMoved, 2))

// moveRoomReadMark hands the mark to the room's owner.
func (s *Service) moveRoomReadMark(ctx context.Context, c Caller, room, upTo schemas.ID) error {
	_, err := s.Execute(ctx, Command{Kind: KindReadMark, RoomID: room, UserID: c.UserID, MessageID: upTo, Credential: c.Token})
	return err
}

// decideReadMark appends the member's mark when it moves forward. A mark at
// or behind the member's is answered as done with nothing appended: the API
// promises that a mark only moves forward, not that an older one is an
// error (a client's marks may cross on the way). A mark after the room's
// newest event names no message the member can have read.
func decideReadMark(r *room, cmd Command, dp deps) (decision, error) {
	if r == nil || r.status == "" {
		return decision{}, notFound("no such room")
	}
	m, isMember := r.current(cmd.UserID, dp)
	if !isMember {
		return decision{}, forbidden("only members of the room have a read mark in it")
	}
	if cmd.MessageID <= 0 {
		return decision{}, badRequest("up_to must be a message id")
	}
	if cmd.MessageID > r.lastID {
		return decision{}, badRequest("up_to must be a message of the room (it is after the room's newest)")
	}
	d := decision{result: Result{Done: true}}
	if cmd.MessageID <= m.readUpTo {
		return d, nil
	}
	err := d.stamp(r, dp, schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.ReadMarkMoved{UpTo: cmd.MessageID}})
	if err != nil {
		return decision{}, err
	}
	d.result.Seq = d.events[0].Seq
	return d, nil
}

// applyReadMark folds a member's mark: the greatest wins, and a mark of
// someone who is no longer a member is dropped (it belonged to a
// membership that ended).
func (r *room) applyReadMark(u, upTo schemas.ID) {
	if m, ok := r.members[u]; ok && upTo > m.readUpTo {
		m.readUpTo = upTo
		r.members[u] = m
	}
}
