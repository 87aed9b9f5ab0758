package schemas

import (
	"testing"
	"time"

	"github.com/bwmarrin/snowflake"
)

func TestIDTimeAndIDAt(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 21, 13, 123_456_789, time.UTC)
	id := IDAt(at)
	if got := IDTime(id); !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("IDTime(IDAt(t)) = %v, want %v", got, at.Truncate(time.Millisecond))
	}
	if got := snowflake.ID(id).Time(); got != at.UnixMilli() {
		t.Errorf("snowflake reads IDAt(t) as %d ms, want %d", got, at.UnixMilli())
	}
	if IDAt(at.Add(time.Millisecond)) <= id|(1<<(snowflake.NodeBits+snowflake.StepBits)-1) {
		t.Error("IDAt of the next millisecond is not above every id of this one")
	}
	if IDAt(time.Unix(0, 0)) != 0 {
		t.Error("IDAt before the epoch is not 0")
	}
}

// TestSplitAndJoinID: the layout agrees with bwmarrin/snowflake's own
// accessors at the edges of each field, and JoinID inverts SplitID.
func TestSplitAndJoinID(t *testing.T) {
	lastStep := int64(1)<<snowflake.StepBits - 1
	lastNode := int64(1)<<snowflake.NodeBits - 1
	for _, c := range []struct{ ms, node, step int64 }{
		{0, 0, 0},
		{1, 0, 0},
		{0, 1, 0},
		{0, 0, 1},
		{123456789, 512, 7},
		{123456789, lastNode, lastStep},
		{1<<(63-snowflake.NodeBits-snowflake.StepBits) - 1, lastNode, lastStep},
	} {
		id := JoinID(c.ms, c.node, c.step)
		sf := snowflake.ID(id)
		if sf.Time()-snowflake.Epoch != c.ms || sf.Node() != c.node || sf.Step() != c.step {
			t.Errorf("JoinID(%d, %d, %d) reads as %d ms, node %d, step %d", c.ms, c.node, c.step, sf.Time()-snowflake.Epoch, sf.Node(), sf.Step())
		}
		if ms, node, step := SplitID(id); ms != c.ms || node != c.node || step != c.step {
			t.Errorf("SplitID(JoinID(%d, %d, %d)) = %d, %d, %d", c.ms, c.node, c.step, ms, node, step)
		}
	}
}
