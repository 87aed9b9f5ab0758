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
