package feed

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A stored position is fetched from exactly, with no leader epoch: the
// position comes from the store, so an epoch would make the client validate
// it against a fetch it never made (KIP-320) and could reset it. A partition
// with no stored position starts at the beginning of the log.
func TestResumeOffsets(t *testing.T) {
	parts := map[string][]int32{"rooms": {0, 1}, "users": {0}}
	stored := map[string]map[int32]int64{"rooms": {1: 42}, "users": {0: 0}}
	got := resumeOffsets(parts, stored)

	want := map[string]map[int32]kgo.EpochOffset{
		"rooms": {0: kgo.NewOffset().AtStart().EpochOffset(), 1: {Epoch: -1, Offset: 42}},
		"users": {0: {Epoch: -1, Offset: 0}},
	}
	if len(got) != len(want) {
		t.Fatalf("topics: got %d, want %d", len(got), len(want))
	}
	for topic, ps := range want {
		if len(got[topic]) != len(ps) {
			t.Fatalf("%s: got %d partitions, want %d", topic, len(got[topic]), len(ps))
		}
		for p, w := range ps {
			if g := got[topic][p].EpochOffset(); g != w {
				t.Errorf("%s/%d: got %+v, want %+v", topic, p, g, w)
			}
		}
	}
}
