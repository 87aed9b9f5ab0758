package realtime

import "happychat/schemas"

// typeReadMark is the frame of readmark.moved v2 (feature level 5, docs/adr/0010):
// a member's read mark moved forward, so the room's clients can show who has
// seen which messages. It is a room event like any other: it has a seq,
// goes through the ring and the resume, and reaches WebSocket and SSE
// clients alike (its SSE event name is "read_mark").
const typeReadMark = "read_mark"

// readMarkFrame says that UserID has read RoomID up to and including message
// UpTo. The same frame serves every socket of the room.
type readMarkFrame struct {
	Type   string     `json:"type"`
	RoomID schemas.ID `json:"room_id"`
	UserID schemas.ID `json:"user_id"`
	UpTo   schemas.ID `json:"up_to"`
	Seq    int64      `json:"seq"`
}
