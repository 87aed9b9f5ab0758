package realtime

import (
	"bytes"
	"fmt"
	"time"

	"github.com/go-json-experiment/json"

	"happychat/internal/clientjson"
	"happychat/schemas"
)

// Frame types of the contract (API.md "Realtime") and this service's
// documented extensions (docs/realtime.md).
const (
	typeMessage  = "message"
	typeJoined   = "member_joined"
	typeLeft     = "member_left"
	typePresence = "presence"
	typeAck      = "ack"
	typeError    = "error"
	typeSend     = "send"
	// Extensions. room_event keeps a client's seq accounting exact: every
	// room event takes a seq, so a room event without a frame of its own
	// (room.created, room.approved, …) would look like a gap.
	typeRoomEvent = "room_event"
	typeRenamed   = "member_renamed"
	// Changes of a message (feature level 3, issue 18).
	typeMessageEdited  = "message_edited"
	typeMessageDeleted = "message_deleted"
	typeReaction       = "reaction"
	// A realtime-only frame, both ways: a member is typing (typing.go).
	typeTyping = "typing"
	typePing   = "ping"
	typePong   = "pong"
)

type messageFrame struct {
	Type    string          `json:"type"`
	Message schemas.Message `json:"message"`
}

type memberFrame struct {
	Type     string     `json:"type"`
	RoomID   schemas.ID `json:"room_id"`
	UserID   schemas.ID `json:"user_id"`
	Nickname string     `json:"nickname"`
	Seq      int64      `json:"seq"`
	// At (an extension) is the event's time, as the timeline gives it, so
	// that a line drawn live and the same line read back after a reload
	// show the same time.
	At string `json:"at,omitzero"`
	// Reason is an extension on member_left: "left" or "switched", or
	// "removed" / "banned" when a moderator ended the membership (level 5;
	// By and ByNickname name the room's owner who did, absent for an
	// admin; Note is their reason).
	Reason     string     `json:"reason,omitzero"`
	By         schemas.ID `json:"by,omitzero"`
	ByNickname string     `json:"by_nickname,omitzero"`
	Note       string     `json:"note,omitzero"`
}

// renamedFrame (an extension, member_renamed) says that a member goes by a
// new nickname from this seq on; Previous is the name it replaces.
type renamedFrame struct {
	Type     string     `json:"type"`
	RoomID   schemas.ID `json:"room_id"`
	UserID   schemas.ID `json:"user_id"`
	Nickname string     `json:"nickname"`
	Previous string     `json:"previous"`
	Seq      int64      `json:"seq"`
	At       string     `json:"at,omitzero"`
}

// editedFrame: the author edited message MessageID; Body and Effects are
// the new text's, softened like any.
type editedFrame struct {
	Type      string     `json:"type"`
	RoomID    schemas.ID `json:"room_id"`
	MessageID schemas.ID `json:"message_id"`
	UserID    schemas.ID `json:"user_id"`
	Body      string     `json:"body"`
	Effects   []string   `json:"effects"`
	EditedAt  string     `json:"edited_at"`
	Seq       int64      `json:"seq"`
}

// deletedFrame: message MessageID was taken back; a client drops its text
// and shows a tombstone. UserID is who deleted it (absent for the admin
// token).
type deletedFrame struct {
	Type      string     `json:"type"`
	RoomID    schemas.ID `json:"room_id"`
	MessageID schemas.ID `json:"message_id"`
	UserID    schemas.ID `json:"user_id,omitzero"`
	Seq       int64      `json:"seq"`
}

// reactionFrame: member UserID added or removed Emoji on message
// MessageID. The same frame serves every socket of the room (frames are
// encoded once per room): a client tells its own user's reactions by
// UserID.
type reactionFrame struct {
	Type      string     `json:"type"`
	RoomID    schemas.ID `json:"room_id"`
	MessageID schemas.ID `json:"message_id"`
	UserID    schemas.ID `json:"user_id"`
	Emoji     string     `json:"emoji"`
	Op        string     `json:"op"` // "added" | "removed"
	Seq       int64      `json:"seq"`
}

type roomEventFrame struct {
	Type   string     `json:"type"`
	RoomID schemas.ID `json:"room_id"`
	Seq    int64      `json:"seq"`
	Event  string     `json:"event"`
	At     string     `json:"at,omitzero"`
}

// presenceFrame is sent first on every connection. Seq (an extension) is
// the room seq the member list reflects.
type presenceFrame struct {
	Type    string           `json:"type"`
	RoomID  schemas.ID       `json:"room_id"`
	Members []schemas.Member `json:"members"`
	Seq     int64            `json:"seq"`
}

type ackFrame struct {
	Type        string          `json:"type"`
	ClientMsgID string          `json:"client_msg_id"`
	Message     schemas.Message `json:"message"`
}

type errorFrame struct {
	Type        string         `json:"type"`
	ClientMsgID string         `json:"client_msg_id,omitzero"`
	Error       *schemas.Error `json:"error"`
}

type pongFrame struct {
	Type string `json:"type"`
}

// frame is one server → client frame. Event frames are shared by every
// socket of a room (and by the room's recent-events ring), so a frame is
// immutable once built.
type frame struct {
	// seq is the room seq of an event frame; 0 for every other frame.
	seq int64
	// wire is the whole WebSocket frame as written; data is its payload.
	wire []byte
	data []byte
	// at is the event's time, for the end-to-end delay metric.
	at time.Time
	// leaver is the user of a member_left frame: that user's own sockets
	// close after delivering it, since they are no longer members.
	leaver schemas.ID
	// removed marks a leaver's member_left as a kick or a ban: their
	// sockets close with CloseRemoved instead of CloseNotMember.
	removed bool
	// typ is the frame's type, the event name of its SSE form (sse.go).
	typ string
}

// renderEvent turns a room event into its frame.
func renderEvent(env schemas.Envelope, mod Moderation) (*frame, error) {
	var v any
	f := &frame{seq: env.Seq, at: env.OccurredAt}
	at := schemas.FormatTime(env.OccurredAt)
	switch p := env.Payload.(type) {
	case schemas.MessageSent:
		if p.Erased {
			// Its key is gone: the message was deleted (its delete
			// follows on the log).
			return tombstoneFrame(env, schemas.MessageDeleted{MessageID: env.ID, AuthorID: env.UserID, Nickname: p.Nickname,
				MessageSeq: env.Seq, SentAt: schemas.FormatTime(env.OccurredAt)})
		}
		v = messageFrame{Type: typeMessage, Message: messageOf(env, p, mod)}
	case schemas.RoomJoined:
		v = memberFrame{Type: typeJoined, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname, Seq: env.Seq, At: at}
	case schemas.MemberAdded:
		// A private room's or a direct message's new member: the same
		// frame as a join, so clients keep one member list.
		v = memberFrame{Type: typeJoined, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname, Seq: env.Seq, At: at}
	case schemas.RoomLeft:
		v = memberFrame{Type: typeLeft, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname, Seq: env.Seq, At: at, Reason: p.Reason}
		f.leaver = env.UserID
	case schemas.MemberRemoved:
		v = memberFrame{Type: typeLeft, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname, Seq: env.Seq, At: at,
			Reason: schemas.LeftReasonRemoved, By: p.By, ByNickname: p.ByNickname, Note: p.Reason}
		f.leaver, f.removed = env.UserID, true
	case schemas.MemberBanned:
		if !p.Member {
			v = roomEventFrame{Type: typeRoomEvent, RoomID: env.RoomID, Seq: env.Seq, Event: env.Type, At: at}
			break
		}
		v = memberFrame{Type: typeLeft, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname, Seq: env.Seq, At: at,
			Reason: schemas.LeftReasonBanned, By: p.By, ByNickname: p.ByNickname, Note: p.Reason}
		f.leaver, f.removed = env.UserID, true
	case schemas.MemberRenamed:
		v = renamedFrame{Type: typeRenamed, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname, Previous: p.Previous, Seq: env.Seq, At: at}
	case schemas.MessageEdited:
		if p.Erased {
			v = roomEventFrame{Type: typeRoomEvent, RoomID: env.RoomID, Seq: env.Seq, Event: env.Type, At: at}
			break
		}
		effects := mod.Effects(p.Text)
		if effects == nil {
			effects = []string{}
		}
		v = editedFrame{Type: typeMessageEdited, RoomID: env.RoomID, MessageID: p.MessageID, UserID: env.UserID,
			Body: mod.Soften(p.Text), Effects: effects, EditedAt: schemas.FormatTime(env.OccurredAt), Seq: env.Seq}
	case schemas.MessageDeleted:
		v = deletedFrame{Type: typeMessageDeleted, RoomID: env.RoomID, MessageID: p.MessageID, UserID: env.UserID, Seq: env.Seq}
	case schemas.ReactionAdded:
		v = reactionFrame{Type: typeReaction, RoomID: env.RoomID, MessageID: p.MessageID, UserID: env.UserID, Emoji: p.Emoji, Op: "added", Seq: env.Seq}
	case schemas.ReactionRemoved:
		v = reactionFrame{Type: typeReaction, RoomID: env.RoomID, MessageID: p.MessageID, UserID: env.UserID, Emoji: p.Emoji, Op: "removed", Seq: env.Seq}
	case schemas.ReadMarkMoved:
		v = readMarkFrame{Type: typeReadMark, RoomID: env.RoomID, UserID: env.UserID, UpTo: p.UpTo, Seq: env.Seq}
	default:
		v = roomEventFrame{Type: typeRoomEvent, RoomID: env.RoomID, Seq: env.Seq, Event: env.Type, At: at}
	}
	data, err := schemas.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("render %s seq %d: %w", env.Type, env.Seq, err)
	}
	f.setPayload(opText, data)
	return f, nil
}

// messageOf is the Message clients see for a message.sent event: the same
// shape and the same moderation as the history read paths.
func messageOf(env schemas.Envelope, p schemas.MessageSent, mod Moderation) schemas.Message {
	return schemas.Message{
		ID: env.ID, RoomID: env.RoomID, UserID: env.UserID, Nickname: p.Nickname,
		Body: mod.Soften(p.Text), SentAt: schemas.FormatTime(env.OccurredAt),
		ClientMsgID: p.ClientMsgID, Effects: mod.Effects(p.Text), Seq: env.Seq,
		ReplyTo: p.ReplyTo, Mentions: p.Mentions,
	}
}

// tombstoneFrame is the message frame of a deleted message, which replaces
// the original's in the room's ring: a resume from memory never hands out
// a deleted message's text.
func tombstoneFrame(env schemas.Envelope, p schemas.MessageDeleted) (*frame, error) {
	sentAt, _ := schemas.ParseTime(p.SentAt) // checked by Decode
	data, err := schemas.Marshal(messageFrame{Type: typeMessage, Message: schemas.Message{
		ID: p.MessageID, RoomID: env.RoomID, UserID: p.AuthorID, Nickname: p.Nickname, SentAt: p.SentAt,
		Effects: []string{}, Seq: p.MessageSeq, Deleted: true,
	}})
	if err != nil {
		return nil, err
	}
	f := &frame{seq: p.MessageSeq, at: sentAt}
	f.setPayload(opText, data)
	return f, nil
}

// controlFrame renders a non-event frame (presence, ack, error, pong).
func controlFrame(v any) *frame {
	data, err := schemas.Marshal(v)
	if err != nil {
		// Only our own shapes get here; the one way to fail is a string that
		// is not valid UTF-8 (say, in an error message from elsewhere).
		data = []byte(`{"type":"error","error":{"code":"internal","message":"encode frame"}}`)
	}
	f := &frame{}
	f.setPayload(opText, data)
	return f
}

// setPayload encodes the frame's wire form.
func (f *frame) setPayload(op byte, payload []byte) {
	f.wire = wireFrame(op, payload)
	f.data = f.wire[wireHeaderLen(len(payload)):]
	if op == opText {
		f.typ = frameType(payload)
	}
}

// frameType reads the type of a rendered frame without decoding it: every
// frame struct has Type as its first field, so its JSON starts with
// {"type":"<name>" (names are plain ASCII words).
func frameType(payload []byte) string {
	rest, ok := bytes.CutPrefix(payload, []byte(`{"type":"`))
	if !ok {
		return ""
	}
	if end := bytes.IndexByte(rest, '"'); end > 0 {
		return string(rest[:end])
	}
	return ""
}

// pingFrame is the server's keepalive, the same bytes for every socket.
var pingFrame = &frame{wire: wireFrame(opPing, nil)}

// pongFrameOf answers a client's WebSocket ping with its application data.
func pongFrameOf(appData string) *frame {
	f := &frame{}
	f.setPayload(opPong, []byte(appData))
	return f
}

func errFrame(clientMsgID string, e *schemas.Error) *frame {
	return controlFrame(errorFrame{Type: typeError, ClientMsgID: clientMsgID, Error: e})
}

// clientFrame is a client → server frame. Only "send" carries fields;
// reply_to and mentions are optional (feature level 3).
type clientFrame struct {
	Type        string       `json:"type"`
	Body        string       `json:"body"`
	ClientMsgID string       `json:"client_msg_id"`
	ReplyTo     schemas.ID   `json:"reply_to,omitzero"`
	Mentions    []schemas.ID `json:"mentions,omitzero"`
}

// frameHead is read leniently first, so that an error about the rest of a
// frame can still name the client_msg_id it answers.
type frameHead struct {
	Type        string `json:"type"`
	ClientMsgID string `json:"client_msg_id"`
}

// parseClientFrame decodes a text frame. The error is the one the client
// gets in an error frame (with the client_msg_id when it could be read).
func parseClientFrame(data []byte) (clientFrame, *schemas.Error) {
	var head frameHead
	if err := json.Unmarshal(data, &head); err != nil {
		return clientFrame{}, schemas.AsError(clientjson.Describe("frame", data, err))
	}
	switch head.Type {
	case typeSend:
		var f clientFrame
		if err := clientjson.Decode("frame", data, &f); err != nil {
			return clientFrame{ClientMsgID: head.ClientMsgID}, schemas.AsError(err)
		}
		if f.ClientMsgID == "" {
			return f, schemas.Errorf(schemas.CodeBadRequest, "client_msg_id is required")
		}
		return f, nil
	case typePing:
		return clientFrame{Type: typePing}, nil
	case typeTyping:
		return clientFrame{Type: typeTyping}, nil
	case "":
		return clientFrame{ClientMsgID: head.ClientMsgID}, schemas.Errorf(schemas.CodeBadRequest, "frame type is required")
	default:
		return clientFrame{ClientMsgID: head.ClientMsgID}, schemas.Errorf(schemas.CodeBadRequest, fmt.Sprintf("unknown frame type %.40q", head.Type))
	}
}
