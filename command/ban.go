package command

import "happychat/schemas"

// decideBan: the room's owner or an admin bans a user (cmd.Peer) from the
// room: from then on their joins, accepted invites and adds are refused
// (code banned) until decideUnban. A current member is removed by the same
// event (member.banned with member true). Banning a banned user is a no-op
// answered with the room; any user id may be banned, member or not.
func decideBan(r *room, cmd Command, dp deps) (decision, error) {
	if err := r.moderatedBy(cmd, dp); err != nil {
		return decision{}, err
	}
	if cmd.Peer <= 0 {
		return decision{}, badRequest("user_id must name a user")
	}
	if cmd.Peer == cmd.UserID {
		return decision{}, badRequest("user_id: you cannot ban yourself")
	}
	var d decision
	d.result.Room = roomView(r, dp.capacity)
	if r.banned(cmd.Peer) {
		return d, nil
	}
	p := schemas.MemberBanned{Reason: cmd.Reason}
	p.By, p.ByNickname = actor(cmd)
	// A membership a later join elsewhere already ended (its switch-leave
	// pending) is not current: the ban drops it without a member_left.
	if m, ok := r.members[cmd.Peer]; ok {
		p.Nickname = m.nickname
		_, p.Member = r.current(cmd.Peer, dp)
	}
	env := schemas.Envelope{UserID: cmd.Peer, CorrelationID: cmd.CorrelationID, Payload: p}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}

// decideUnban lifts a ban. Lifting a ban that does not exist is a no-op.
func decideUnban(r *room, cmd Command, dp deps) (decision, error) {
	if err := r.moderatedBy(cmd, dp); err != nil {
		return decision{}, err
	}
	if cmd.Peer <= 0 {
		return decision{}, badRequest("user_id must name a user")
	}
	var d decision
	d.result.Room = roomView(r, dp.capacity)
	if !r.banned(cmd.Peer) {
		return d, nil
	}
	p := schemas.MemberUnbanned{}
	p.By, p.ByNickname = actor(cmd)
	env := schemas.Envelope{UserID: cmd.Peer, CorrelationID: cmd.CorrelationID, Payload: p}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}
