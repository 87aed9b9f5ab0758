package command

import (
	"sort"

	"happychat/schemas"
)

// decidePresence answers the room's current members, with their read
// marks, and the seq they reflect. It appends nothing.
func decidePresence(r *room) (decision, error) {
	if r == nil {
		return decision{}, notFound("no such room")
	}
	members := make([]schemas.Member, 0, len(r.members))
	for id, m := range r.members {
		members = append(members, schemas.Member{UserID: id, Nickname: m.nickname, JoinedAt: schemas.FormatTime(m.joinedAt), ReadUpTo: m.readUpTo})
	}
	sort.Slice(members, func(i, j int) bool { return members[i].JoinedAt < members[j].JoinedAt })
	var d decision
	d.result.Members, d.result.Seq = members, r.seq
	d.result.Room = nil
	return d, nil
}
