package command

import "happychat/schemas"

// decideKick: the room's owner or an admin removes a member (cmd.Peer).
// It ends the membership and frees the seat (member.removed); the removed
// user may come back the usual ways unless they are also banned. Removing
// oneself is a leave, not a kick.
func decideKick(r *room, cmd Command, dp deps) (decision, error) {
	if err := r.moderatedBy(cmd, dp); err != nil {
		return decision{}, err
	}
	if cmd.Peer <= 0 {
		return decision{}, badRequest("user_id must name a user")
	}
	if cmd.Peer == cmd.UserID {
		return decision{}, badRequest("user_id: you cannot remove yourself; leave the room instead")
	}
	m, ok := r.current(cmd.Peer, dp)
	if !ok {
		return decision{}, notFound("user_id is not a member of the room")
	}
	by, byNick := actor(cmd)
	var d decision
	env := schemas.Envelope{UserID: cmd.Peer, CorrelationID: cmd.CorrelationID,
		Payload: schemas.MemberRemoved{Nickname: m.nickname, By: by, ByNickname: byNick, Reason: cmd.Reason}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}
