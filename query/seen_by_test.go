package query

import (
	"testing"

	"happychat/schemas"
)

func TestSeenByOnlyForMembers(t *testing.T) {
	list := func() []schemas.Member {
		return []schemas.Member{{UserID: 1, ReadUpTo: 10}, {UserID: 2, ReadUpTo: 20}}
	}
	for _, tt := range []struct {
		name   string
		caller Caller
		keep   bool
	}{
		{"a member sees the marks", Caller{UserID: 2}, true},
		{"a stranger does not", Caller{UserID: 3}, false},
		{"nor an anonymous caller", Caller{}, false},
		{"nor the admin token", Caller{Admin: true}, false},
	} {
		m := list()
		seenBy(m, tt.caller)
		if got := m[0].ReadUpTo == 10 && m[1].ReadUpTo == 20; got != tt.keep {
			t.Errorf("%s: marks %d, %d", tt.name, m[0].ReadUpTo, m[1].ReadUpTo)
		}
		if !tt.keep && (m[0].ReadUpTo != 0 || m[1].ReadUpTo != 0) {
			t.Errorf("%s: marks left %d, %d", tt.name, m[0].ReadUpTo, m[1].ReadUpTo)
		}
	}
}
