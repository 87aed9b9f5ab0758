package command

import (
	"time"

	"happychat/schemas"
)

// The write side's fold of the level-4 events: a room's kind, its members
// added by invite or by a member, and its invites with their uses.

// invite is one invite of a private room.
type invite struct {
	hash    string // hex SHA-256 of the code's secret
	expires time.Time
	maxUses int
	uses    int
	by      schemas.ID
}

// applyConversation folds conversation.created, member.added and
// invite.created into r, in place (r's maps are already r's own: see next).
func (r *room) applyConversation(env schemas.Envelope) {
	switch p := env.Payload.(type) {
	case schemas.ConversationCreated:
		r.status, r.kind, r.title, r.description, r.createdAt = schemas.RoomStatusOpen, p.Kind, p.Title, p.Description, env.OccurredAt
		r.creator, r.peer = env.UserID, p.Peer
	case schemas.MemberAdded:
		r.members[env.UserID] = member{joinID: env.ID, nickname: p.Nickname, joinedAt: env.OccurredAt}
		if inv, ok := r.invites[p.Invite]; ok && p.Invite != 0 {
			inv.uses++
			r.invites[p.Invite] = inv
		}
	case schemas.InviteCreated:
		at, _ := schemas.ParseTime(p.ExpiresAt) // checked by the registry
		if r.invites == nil {
			r.invites = map[schemas.ID]invite{}
		}
		r.invites[env.ID] = invite{hash: p.CodeHash, expires: at, maxUses: p.MaxUses, by: env.UserID}
	}
}

// snapConversation is the level-4 part of a room in a snapshot.
type snapConversation struct {
	Kind    string       `json:"kind"`
	Creator schemas.ID   `json:"creator"`
	Peer    schemas.ID   `json:"peer,omitzero"`
	Invites []snapInvite `json:"invites,omitzero"`
}

type snapInvite struct {
	ID      schemas.ID `json:"id"`
	Hash    string     `json:"hash"`
	Expires time.Time  `json:"expires"`
	MaxUses int        `json:"max_uses"`
	Uses    int        `json:"uses"`
	By      schemas.ID `json:"by"`
}

// snapConv captures r's kind and invites (nil for a topic room).
func (r *room) snapConv() *snapConversation {
	if r.topic() {
		return nil
	}
	c := &snapConversation{Kind: r.kind, Creator: r.creator, Peer: r.peer}
	for id, inv := range r.invites {
		c.Invites = append(c.Invites, snapInvite{ID: id, Hash: inv.hash, Expires: inv.expires, MaxUses: inv.maxUses, Uses: inv.uses, By: inv.by})
	}
	return c
}

// installConv restores what snapConv captured.
func (r *room) installConv(c *snapConversation) {
	if c == nil {
		return
	}
	r.kind, r.creator, r.peer = c.Kind, c.Creator, c.Peer
	if len(c.Invites) > 0 {
		r.invites = make(map[schemas.ID]invite, len(c.Invites))
	}
	for _, i := range c.Invites {
		r.invites[i.ID] = invite{hash: i.Hash, expires: i.Expires, maxUses: i.MaxUses, uses: i.Uses, by: i.By}
	}
}

// current returns u's membership of r if it is current: in a topic room, a
// membership that a later join elsewhere superseded is over already, even
// before its switch-leave is appended (decision 2); memberships of private
// rooms and direct messages are never superseded.
func (r *room) current(u schemas.ID, dp deps) (member, bool) {
	m, ok := r.members[u]
	if !ok {
		return m, false
	}
	if r.topic() {
		if loc, found := dp.locate(u); found && loc.superseded(r.id, m.joinID) {
			return m, false
		}
	}
	return m, true
}

// byPrivateMember checks that r exists (404), that the caller is a current
// member (403, notMember) and that r is a private room (400, notPrivate):
// what an invite and an add need.
func (r *room) byPrivateMember(cmd Command, dp deps, notMember, notPrivate string) error {
	if r == nil {
		return notFound("no such room")
	}
	if _, ok := r.current(cmd.UserID, dp); !ok {
		return forbidden(notMember)
	}
	if r.kind != schemas.RoomKindPrivate {
		return badRequest(notPrivate)
	}
	return nil
}
