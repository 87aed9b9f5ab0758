package schemas

import (
	"time"

	"github.com/bwmarrin/snowflake"
)

// Ids are snowflakes in bwmarrin/snowflake's layout: milliseconds since
// snowflake.Epoch, then snowflake.NodeBits of node, then snowflake.StepBits
// of step. Package idgen mints them.

// Node id ranges. Snowflakes carry a 10-bit node id, and two live generators
// with the same node id could mint the same id in the same millisecond. The
// ranges split the space so that collisions are impossible by construction:
//
//   - Room events (messages, joins, leaves) are minted by the owner of the
//     room's partition with node id = partition number. A partition has one
//     owner at a time; a stale owner that still mints with the same node id is
//     fenced by its transactional producer, so its ids never reach the log.
//   - Everything else (user ids, room ids, user-topic events) is minted with
//     node id = InstanceNodeBase + the instance id configured for the process
//     (CHAT_INSTANCE_ID), which operators keep unique among live instances.
const (
	// MaxRoomPartitions bounds the rooms topic so that partition node ids
	// stay below InstanceNodeBase.
	MaxRoomPartitions = 512
	// InstanceNodeBase is the first node id of the per-instance range.
	InstanceNodeBase = 512
	// MaxInstanceID is the largest configurable instance id.
	MaxInstanceID = 1023 - InstanceNodeBase
)

// SplitID takes an id apart into milliseconds since snowflake.Epoch, node and
// step. The widths come from bwmarrin/snowflake so that the layout has one
// definition.
func SplitID(id ID) (ms, node, step int64) {
	v := int64(id)
	ms = v >> (snowflake.NodeBits + snowflake.StepBits)
	node = (v >> snowflake.StepBits) & (int64(1)<<snowflake.NodeBits - 1)
	step = v & (int64(1)<<snowflake.StepBits - 1)
	return ms, node, step
}

// JoinID is the inverse of SplitID; its arguments must be in range.
func JoinID(ms, node, step int64) ID {
	return ID(ms<<(snowflake.NodeBits+snowflake.StepBits) | node<<snowflake.StepBits | step)
}

// IDTime returns the creation time embedded in a snowflake id. For an id
// minted while its generator ran ahead, it is ahead of the wall clock of the
// moment.
func IDTime(id ID) time.Time {
	ms, _, _ := SplitID(id)
	return time.UnixMilli(ms + snowflake.Epoch)
}

// IDAt returns the smallest id that any node could mint at t: useful as a
// keyset bound for time ranges.
func IDAt(t time.Time) ID {
	return JoinID(max(t.UnixMilli()-snowflake.Epoch, 0), 0, 0)
}
