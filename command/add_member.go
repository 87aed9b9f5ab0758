package command

import "happychat/schemas"

// decideAddMember: a member of a private room adds another user
// (cmd.Peer), within the room's capacity. Adding a member is a no-op.
func decideAddMember(r *room, cmd Command, dp deps) (decision, error) {
	if err := r.byPrivateMember(cmd, dp, "only members of the room may add someone", "members are added to private rooms only"); err != nil {
		return decision{}, err
	}
	if cmd.Peer <= 0 || cmd.PeerNickname == "" {
		return decision{}, badRequest("user_id must name a user")
	}
	if err := r.refuseEntry(cmd.Peer, "user_id is"); err != nil {
		return decision{}, err
	}
	var d decision
	d.result.Room = roomView(r, dp.capacity)
	if _, ok := r.members[cmd.Peer]; ok {
		return d, nil
	}
	if len(r.members) >= dp.capacity {
		return decision{}, schemas.Errorf(schemas.CodeRoomFull, "the room is full")
	}
	env := schemas.Envelope{UserID: cmd.Peer, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MemberAdded{Nickname: cmd.PeerNickname, By: cmd.UserID}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Room = roomView(r, dp.capacity)
	d.result.Created = true
	return d, nil
}
