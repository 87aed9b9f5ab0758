// Package wstest is the WebSocket protocol (API.md) as its tests read it from
// outside, over a socket or its Server-Sent Events form (sse.go): a lenient
// decoding of any server frame, shared by the realtime package's tests and
// the end-to-end tests of the binaries. It spells the
// wire names out rather than importing realtime's, so that a renamed frame is
// a failing test, not a silent change of the contract.
package wstest

import (
	"encoding/json"
	"fmt"

	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// The frame types of room events, the frames that take a seq.
const (
	TypeMessage   = "message"
	TypeJoined    = "member_joined"
	TypeLeft      = "member_left"
	TypeRoomEvent = "room_event"
	TypeRenamed   = "member_renamed"
	// The changes of a message (feature level 3).
	TypeMessageEdited  = "message_edited"
	TypeMessageDeleted = "message_deleted"
	TypeReaction       = "reaction"
	// A member's read mark moved ("seen by", feature level 5).
	TypeReadMark = "read_mark"
)

// Frame is any server frame, decoded leniently: the fields of every frame
// type side by side. Raw is the frame as sent.
type Frame struct {
	Type        string           `json:"type"`
	Message     *schemas.Message `json:"message"`
	RoomID      schemas.ID       `json:"room_id"`
	UserID      schemas.ID       `json:"user_id"`
	Nickname    string           `json:"nickname"`
	Seq         int64            `json:"seq"`
	Members     []schemas.Member `json:"members"`
	ClientMsgID string           `json:"client_msg_id"`
	Error       *schemas.Error   `json:"error"`
	Event       string           `json:"event"`
	Reason      string           `json:"reason"`
	Previous    string           `json:"previous"`
	MessageID   schemas.ID       `json:"message_id"`
	Body        string           `json:"body"`
	EditedAt    string           `json:"edited_at"`
	At          string           `json:"at"`
	Emoji       string           `json:"emoji"`
	Op          string           `json:"op"`
	UpTo        schemas.ID       `json:"up_to"`
	// Code is a close event's code (SSE: the stream's last event).
	Code int `json:"code"`
	// ExpiresInMs is how long a typing frame is shown.
	ExpiresInMs int64  `json:"expires_in_ms"`
	Raw         []byte `json:"-"`
	// SSEID and SSEEvent are the id and event fields of an SSE event.
	SSEID    string `json:"-"`
	SSEEvent string `json:"-"`
}

// Decode decodes one frame read from a socket; the protocol's frames are
// text.
func Decode(messageType int, data []byte) (Frame, error) {
	if messageType != websocket.TextMessage {
		return Frame{}, fmt.Errorf("a frame of type %d, want text", messageType)
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("frame %s: %w", data, err)
	}
	f.Raw = data
	return f, nil
}

// IsEvent reports whether f is a room event: a frame that takes a seq.
func (f Frame) IsEvent() bool {
	switch f.Type {
	case TypeMessage, TypeJoined, TypeLeft, TypeRoomEvent, TypeRenamed, TypeMessageEdited, TypeMessageDeleted, TypeReaction, TypeReadMark:
		return true
	}
	return false
}

// EventSeq is the room seq of an event frame (0 for other frames).
func (f Frame) EventSeq() int64 {
	switch f.Type {
	case TypeMessage:
		if f.Message != nil {
			return f.Message.Seq
		}
	case TypeJoined, TypeLeft, TypeRoomEvent, TypeRenamed, TypeMessageEdited, TypeMessageDeleted, TypeReaction, TypeReadMark:
		return f.Seq
	}
	return 0
}

// Room is the room an event or presence frame is about.
func (f Frame) Room() schemas.ID {
	if f.Type == TypeMessage && f.Message != nil {
		return f.Message.RoomID
	}
	return f.RoomID
}

func (f Frame) String() string { return string(f.Raw) }
