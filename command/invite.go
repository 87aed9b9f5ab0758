package command

import (
	"crypto/sha256"
	"time"

	"happychat/schemas"
)

// decideInvite records an invite to a private room made by one of its
// members. The code's secret never reaches the log, only its hash
// (schemas.InviteCreated); the instance that took the request made the
// secret and gives the code to the caller once this is committed.
func decideInvite(r *room, cmd Command, dp deps) (decision, error) {
	if err := r.byPrivateMember(cmd, dp, "only members of the room may invite", "only a private room takes invites"); err != nil {
		return decision{}, err
	}
	// The bounds again: a forwarded command's are not taken on trust.
	if cmd.MaxUses < 1 || cmd.MaxUses > schemas.MaxInviteUses || !cmd.ExpiresAt.After(dp.now) ||
		cmd.ExpiresAt.After(dp.now.Add(MaxInviteTTL+time.Minute)) || len(cmd.CodeHash) != sha256.Size*2 {
		return decision{}, badRequest("an invite needs 1..1000 uses and an expiry within 30 days")
	}
	var d decision
	env := schemas.Envelope{UserID: cmd.UserID, CorrelationID: cmd.CorrelationID,
		Payload: schemas.InviteCreated{CodeHash: cmd.CodeHash, ExpiresAt: schemas.FormatTime(cmd.ExpiresAt), MaxUses: cmd.MaxUses}}
	if err := d.stamp(r, dp, env); err != nil {
		return decision{}, err
	}
	d.result.Invite = d.events[0].ID
	d.result.Room = roomView(r, dp.capacity)
	return d, nil
}
