package projector

import (
	"fmt"
	"slices"

	"happychat/schemas"
)

// The level-4 part of gen: private rooms and direct messages, whose
// members (member.added) stay members whatever topic rooms they join, post,
// and leave.

type genConvs struct {
	rooms   []schemas.ID
	members map[schemas.ID][]schemas.ID // room -> current members
	pairs   map[schemas.ID]bool         // direct rooms made
}

// conversation takes one level-4 action.
func (g *gen) conversation() {
	if len(g.users) < 2 {
		return
	}
	c := &g.convs
	if c.members == nil {
		c.members, c.pairs = map[schemas.ID][]schemas.ID{}, map[schemas.ID]bool{}
	}
	var r schemas.ID
	if len(c.rooms) > 0 {
		r = g.pick(c.rooms)
	}
	ms := c.members[r]
	switch x := g.rng.IntN(9); {
	case x <= 1 && len(ms) > 0: // a member posts
		u := g.pick(ms)
		m := g.id()
		g.emit(g.names.Rooms, r, schemas.Envelope{ID: m, RoomID: r, UserID: u, Payload: schemas.MessageSent{
			Text: "just us 🤫", ClientMsgID: fmt.Sprintf("c-%d", m), Nickname: g.nick[u]}})
		if o := g.pick(ms); o != u && x == 1 { // another member reports it (level 5)
			g.report(r, m, u, o)
		}
	case x == 2 && len(ms) > 0: // a member leaves
		i := g.rng.IntN(len(ms))
		u := ms[i]
		c.members[r] = append(ms[:i:i], ms[i+1:]...)
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.RoomLeft{
			Reason: schemas.LeftReasonLeft, Nickname: g.nick[u]}})
	case x == 3 && len(ms) > 0: // a member adds someone (to a DM too: the fold must not care)
		u := g.pick(g.users)
		for _, m := range ms {
			if m == u {
				return
			}
		}
		c.members[r] = append(ms, u)
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.MemberAdded{Nickname: g.nick[u], By: ms[0]}})
	case x == 5 && len(ms) > 1: // the owner kicks or bans a member (level 5)
		i := 1 + g.rng.IntN(len(ms)-1)
		u, by := ms[i], ms[0]
		c.members[r] = append(ms[:i:i], ms[i+1:]...)
		var p schemas.Event = schemas.MemberRemoved{Nickname: g.nick[u], By: by, ByNickname: g.nick[by]}
		if g.rng.IntN(2) == 0 {
			p = schemas.MemberBanned{Nickname: g.nick[u], Member: true, By: by, ByNickname: g.nick[by], Reason: "차단"}
		}
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: p})
	case x == 6 && len(ms) > 0: // an admin bans a non-member, then maybe lifts it
		u := g.pick(g.users)
		if slices.Contains(ms, u) {
			return
		}
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.MemberBanned{}})
		if g.rng.IntN(2) == 0 {
			g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.MemberUnbanned{}})
		}
	case x == 7 && len(g.open) > 2: // an admin closes a topic room
		i := g.rng.IntN(len(g.open))
		t := g.open[i]
		g.open = append(g.open[:i:i], g.open[i+1:]...)
		g.emit(g.names.Rooms, t, schemas.Envelope{RoomID: t, Payload: schemas.RoomClosed{Reason: "over"}})
	case x == 4: // a direct message
		a, b := g.pick(g.users), g.pick(g.users)
		r = schemas.DirectRoomID(a, b)
		if a == b {
			return
		}
		if c.pairs[r] { // the pair exists: a blocks or unblocks b (level 5)
			g.pairBlock(r, a, b)
			return
		}
		c.pairs[r] = true
		c.rooms = append(c.rooms, r)
		c.members[r] = []schemas.ID{a, b}
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: a, Payload: schemas.ConversationCreated{Kind: schemas.RoomKindDirect, Peer: b}})
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: a, Payload: schemas.MemberAdded{Nickname: g.nick[a]}})
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: b, Payload: schemas.MemberAdded{Nickname: g.nick[b], By: a}})
	default: // a private room, with an invite
		u := g.pick(g.users)
		r = g.id()
		c.rooms = append(c.rooms, r)
		c.members[r] = []schemas.ID{u}
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.ConversationCreated{
			Kind: schemas.RoomKindPrivate, Title: "friends 🔒", Description: "우리끼리"}})
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.MemberAdded{Nickname: g.nick[u]}})
		g.emit(g.names.Rooms, r, schemas.Envelope{RoomID: r, UserID: u, Payload: schemas.InviteCreated{
			CodeHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ExpiresAt: "2027-01-01T00:00:00.000Z", MaxUses: 3}})
	}
}
