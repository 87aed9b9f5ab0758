package query

import "happychat/schemas"

// seenBy keeps the members' read marks ("seen by", docs/adr/0010) only for
// a caller who is one of them: a mark says what a member has read, which
// the room's members see live (read_mark frames) and nobody else needs.
func seenBy(members []schemas.Member, c Caller) {
	for _, m := range members {
		if c.UserID != 0 && m.UserID == c.UserID {
			return
		}
	}
	for i := range members {
		members[i].ReadUpTo = 0
	}
}
