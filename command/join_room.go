package command

import "happychat/schemas"

// decideJoin makes the user a member of the room, within its capacity.
//
// Joining the room one is in is a no-op. Joining another room appends the
// join here; the owner of the previous room appends the matching
// room.left{switched} when its tail sees this join (decision 2), and the
// answer names that room in left_room_id. A user whose membership here was
// already superseded by a later join elsewhere joins anew (a leave and a
// join), so that the fold "latest join wins" puts them here.
func decideJoin(r *room, cmd Command, dp deps) (decision, error) {
	if r != nil && r.banned(cmd.UserID) {
		return decision{}, r.refuseEntry(cmd.UserID, "you are")
	}
	if r == nil || r.status != schemas.RoomStatusOpen && r.status != schemas.RoomStatusClosed {
		return decision{}, notFound("no such open room")
	}
	if !r.topic() {
		// Private rooms and direct messages are entered by invite or by a
		// member (conversation.go), never by joining.
		return decision{}, forbidden("a private room is entered only by an invite")
	}
	loc, located := dp.locate(cmd.UserID)
	m, isMember := r.members[cmd.UserID]
	var d decision
	if isMember && !(located && loc.superseded(r.id, m.joinID)) {
		// A member of a closed room still opens it (read-only).
		d.result.Join = &schemas.JoinResult{RoomID: r.id}
		return d, nil
	}
	if r.status == schemas.RoomStatusClosed {
		return decision{}, r.refuseEntry(cmd.UserID, "you are")
	}
	if isMember {
		// Superseded: end the stale membership before the new join.
		env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
			Payload: schemas.RoomLeft{Reason: schemas.LeftReasonSwitched, Nickname: m.nickname, SwitchedTo: loc.room, JoinID: loc.joinID}}
		if err := d.stamp(r, dp, env); err != nil {
			return decision{}, err
		}
	}
	// Members whose switch-leave is still pending count here: capacity is
	// over-counted for a moment, never exceeded.
	if len(r.members) >= dp.capacity {
		return decision{}, schemas.Errorf(schemas.CodeRoomFull, "the room is full")
	}
	if located && dp.observe != nil {
		// "Latest join wins" orders joins by id: this join came after the
		// user's every acknowledged join (the owner's barrier), so its id
		// must be above theirs whatever the clocks of their owners say.
		dp.observe(loc.joinID)
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.RoomJoined{Nickname: cmd.Nickname}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	res := &schemas.JoinResult{RoomID: r.id}
	if located && loc.active && loc.room != r.id {
		left := loc.room
		res.LeftRoomID = &left
	}
	d.result.Join = res
	return d, nil
}

// decideSwitchLeave ends a membership that a later join in another room
// superseded. It is a no-op when the membership is already gone or began
// after that join.
func decideSwitchLeave(r *room, cmd Command, dp deps) (decision, error) {
	var d decision
	if r == nil {
		return d, nil
	}
	m, ok := r.members[cmd.UserID]
	if !ok || m.joinID > cmd.SwitchJoinID {
		return d, nil
	}
	env := schemas.Envelope{UserID: cmd.UserID, CausationID: cmd.SwitchJoinID.String(),
		Payload: schemas.RoomLeft{Reason: schemas.LeftReasonSwitched, Nickname: m.nickname, SwitchedTo: cmd.SwitchTo, JoinID: cmd.SwitchJoinID}}
	err := d.stamp(r, dp, env)
	return d, err
}
