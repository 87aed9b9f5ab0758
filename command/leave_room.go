package command

import "happychat/schemas"

// decideLeave ends the user's membership. Leaving a room one is not in is a
// no-op (the call is idempotent).
func decideLeave(r *room, cmd Command, dp deps) (decision, error) {
	if r == nil {
		return decision{}, notFound("no such room")
	}
	var d decision
	d.result.Leave = &schemas.LeaveResult{RoomID: r.id}
	m, ok := r.members[cmd.UserID]
	if !ok {
		return d, nil
	}
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.RoomLeft{Reason: schemas.LeftReasonLeft, Nickname: m.nickname}}
	err := d.stamp(r, dp, env)
	return d, err
}
