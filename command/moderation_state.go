package command

import "happychat/schemas"

// The write side's fold of the level-5 moderation events: a kick or a ban
// ends a membership (and frees its seat), a ban is remembered until it is
// lifted, and a closed room stays closed.

// applyModeration folds member.removed, member.banned, member.unbanned and
// room.closed into r, in place (r's maps are already r's own: see next).
func (r *room) applyModeration(env schemas.Envelope) {
	switch env.Payload.(type) {
	case schemas.MemberRemoved:
		delete(r.members, env.UserID)
	case schemas.MemberBanned:
		delete(r.members, env.UserID)
		if r.bans == nil {
			r.bans = map[schemas.ID]bool{}
		}
		r.bans[env.UserID] = true
	case schemas.MemberUnbanned:
		delete(r.bans, env.UserID)
	case schemas.RoomClosed:
		r.status = schemas.RoomStatusClosed
	}
}

// banned reports whether u is banned from r.
func (r *room) banned(u schemas.ID) bool { return r.bans[u] }

// refuseEntry is the answer to someone entering r (a join, an accepted
// invite, an add) while r is closed or they are banned from it.
func (r *room) refuseEntry(u schemas.ID, who string) error {
	if r.status == schemas.RoomStatusClosed {
		return schemas.Errorf(schemas.CodeRoomClosed, "the room was closed by an admin")
	}
	if r.banned(u) {
		return schemas.Errorf(schemas.CodeBanned, who+" banned from this room")
	}
	return nil
}

// moderatedBy checks that cmd's caller may moderate r: an admin, or the
// creator of a private room while a member of it. Direct messages have no
// moderator: a user blocks the other instead.
func (r *room) moderatedBy(cmd Command, dp deps) error {
	if r == nil || r.status == "" {
		return notFound("no such room")
	}
	if r.kind == schemas.RoomKindDirect {
		return badRequest("a direct message has no moderator: block the user instead")
	}
	if cmd.Admin {
		return nil
	}
	if r.kind == schemas.RoomKindPrivate && cmd.UserID == r.creator {
		if _, ok := r.current(cmd.UserID, dp); ok {
			return nil
		}
	}
	return forbidden("only the room's owner (the creator of a private room) or an admin may do this")
}

// actor is who a moderation event names as its actor: the owner (by id
// and nickname), or nobody for an admin.
func actor(cmd Command) (schemas.ID, string) {
	if cmd.Admin {
		return 0, ""
	}
	return cmd.UserID, cmd.Nickname
}
