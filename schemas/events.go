package schemas

// Wire names of the event types. They are part of the log's format: never
// rename one, add a new name or a new version instead.
const (
	TypeUserRegistered = "user.registered"
	TypeRoomCreated    = "room.created"
	TypeRoomProposed   = "room.proposed"
	TypeRoomApproved   = "room.approved"
	TypeRoomJoined     = "room.joined"
	TypeRoomLeft       = "room.left"
	TypeMessageSent    = "message.sent"
	TypeReadMarkMoved  = "readmark.moved"
	// TypeSessionRevoked is the first event of feature level 2.
	TypeSessionRevoked = "session.revoked"
	// TypeRoomRejected is an event of feature level 3.
	TypeRoomRejected = "room.rejected"
	// Feature level 3: a nickname that changes without a new user (issue 17).
	TypeUserRenamed   = "user.renamed"
	TypeMemberRenamed = "member.renamed"
	// Feature level 3: messages people can take back and answer (issue 18).
	TypeMessageEdited          = "message.edited"
	TypeMessageDeleted         = "message.deleted"
	TypeMessageReactionAdded   = "message.reaction_added"
	TypeMessageReactionRemoved = "message.reaction_removed"
)

// Reasons a membership ends (RoomLeft.Reason).
const (
	LeftReasonLeft     = "left"     // the user asked to leave
	LeftReasonSwitched = "switched" // the user joined another room
)

// Room statuses as shown by the views.
const (
	RoomStatusOpen     = "open"
	RoomStatusProposed = "proposed"
	// RoomStatusRejected: a proposal an admin turned down (room.rejected).
	// It is listed nowhere; its proposer and admins still read it.
	RoomStatusRejected = "rejected"
)

// Event is the payload of an envelope: one of the types below.
type Event interface {
	// EventType is the wire name, e.g. "message.sent".
	EventType() string
}

// UserRegistered (users topic, key = user id): a nickname got an anonymous
// identity. Envelope: UserID.
type UserRegistered struct {
	Nickname string `json:"nickname"`
}

// RoomCreated (rooms topic): an admin opened a room. Envelope: RoomID;
// UserID is zero for the operator's admin token.
type RoomCreated struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// RoomProposed (rooms topic): a user proposed a topic; it is not open until
// approved. Envelope: RoomID, UserID = proposer.
type RoomProposed struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// RoomApproved (rooms topic): an admin opened a proposed room. Envelope: RoomID.
type RoomApproved struct{}

// RoomRejected (rooms topic): an admin turned a proposed room down; it
// never opens. Envelope: RoomID. Reason, if the admin gave one, is shown
// to the proposer.
type RoomRejected struct {
	Reason string `json:"reason,omitzero"`
}

// RoomJoined (rooms topic): UserID became a member of RoomID. Nickname is the
// user's nickname at join time (views show it without a users lookup).
type RoomJoined struct {
	Nickname string `json:"nickname"`
}

// RoomLeft (rooms topic): UserID stopped being a member of RoomID. With
// Reason "switched", SwitchedTo names the room of the later join and JoinID
// the event id of that join.
type RoomLeft struct {
	Reason     string `json:"reason"`
	Nickname   string `json:"nickname"`
	SwitchedTo ID     `json:"switched_to,omitzero"`
	JoinID     ID     `json:"join_id,omitzero"`
}

// MessageSent (rooms topic): UserID posted to RoomID. Text is exactly what was
// sent (softening happens on the read paths), Nickname is the sender's at send
// time, ClientMsgID the client's idempotency key. The envelope id is the
// message id. Version 2 (feature level 3) adds ReplyTo, the message it
// answers with a preview captured at send time, and Mentions, the user ids of
// members the text calls by name; a v2 record without either is written as
// v1 while the cluster is below level 3 (see DowncastMessageSentV2).
// Version 3 (feature level 4, docs/adr/0009) carries the text encrypted
// (Sealed) with a data key of its own that a delete destroys, instead of
// Text; a v2 record, plaintext, is a valid v3 one. Readers open it through
// internal/msgkeys, which sets Text, or Erased when the key is gone.
type MessageSent struct {
	Text        string   `json:"text,omitzero"`
	Sealed      *Sealed  `json:"sealed,omitzero"`
	ClientMsgID string   `json:"client_msg_id"`
	Nickname    string   `json:"nickname"`
	ReplyTo     *ReplyTo `json:"reply_to,omitzero"`
	Mentions    []ID     `json:"mentions,omitzero"`
	// Erased is set by a reader whose key store no longer has Sealed's key:
	// the message was deleted, and its text is gone for good. Never on the
	// wire.
	Erased bool `json:"-"`
}

// Sealed is a text encrypted with AES-256-GCM under the data key KeyID
// (PostgreSQL message_keys): Ciphertext is the nonce followed by the
// sealed text, with KeyID as additional data.
type Sealed struct {
	KeyID      string `json:"key_id"`
	Ciphertext []byte `json:"ciphertext"`
}

// ReplyTo is the message a reply answers, as it was when the reply was sent:
// its id, author, and the first characters of its text (Preview, empty when
// the original was deleted by then: Deleted).
type ReplyTo struct {
	MessageID ID     `json:"message_id"`
	UserID    ID     `json:"user_id"`
	Nickname  string `json:"nickname"`
	Preview   string `json:"preview,omitzero"`
	Deleted   bool   `json:"deleted,omitzero"`
	// PreviewSealed replaces Preview in message.sent v3, under a key of
	// the original message: deleting the original erases it too.
	PreviewSealed *Sealed `json:"preview_sealed,omitzero"`
}

// MessageEdited (rooms topic, feature level 3): the author (UserID) replaced
// the text of message MessageID with Text, as sent (softened on the read
// paths, effects recomputed from it). Views show the latest text with the
// event's time as edited_at; the original stays in the log and the history
// store for moderation. Version 2 (feature level 4) carries the text
// Sealed, like message.sent v3, under a key of the message's.
type MessageEdited struct {
	MessageID ID      `json:"message_id"`
	Text      string  `json:"text,omitzero"`
	Sealed    *Sealed `json:"sealed,omitzero"`
	// Erased: as MessageSent's. Never on the wire.
	Erased bool `json:"-"`
}

// MessageDeleted (rooms topic, feature level 3): UserID (the author, or an
// admin: ByAdmin; zero for the operator's admin token) took message
// MessageID back. Views replace it with a tombstone: no text, no reactions.
// AuthorID, Nickname, MessageSeq and SentAt repeat the original's so that a
// view can write the tombstone without reading the original.
type MessageDeleted struct {
	MessageID  ID     `json:"message_id"`
	AuthorID   ID     `json:"author_id"`
	Nickname   string `json:"nickname"`
	MessageSeq int64  `json:"message_seq"`
	SentAt     string `json:"sent_at"`
	ByAdmin    bool   `json:"by_admin,omitzero"`
}

// MessageReaction is the payload of message.reaction_added and
// message.reaction_removed (rooms topic, feature level 3): UserID added or
// removed Emoji (one grapheme) on message MessageID. Both are idempotent per
// (user, message, emoji): a view keeps, per emoji, the set of members whose
// latest such event is an add.
type MessageReaction struct {
	MessageID ID     `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// ReactionAdded and ReactionRemoved are the two reaction events.
type (
	ReactionAdded   MessageReaction
	ReactionRemoved MessageReaction
)

// ReadMarkMoved: UserID has read RoomID up to and including message UpTo.
// Consumers keep the maximum: a mark never moves back. Version 1 is on the
// users topic (key = user id, no seq); version 2 on the rooms topic (key =
// room id, with a seq), seen by the room's members (events_readmark.go).
type ReadMarkMoved struct {
	UpTo ID `json:"up_to"`
}

// SessionRevoked (users topic, key = user id): a token of UserID was
// revoked (DELETE /v1/sessions/current). SessionID is the token's "jti";
// empty, the event revokes every token of the user that has no jti and was
// issued at or before OccurredAt (tokens minted before session ids existed,
// which cannot be told apart). ExpiresAt (wire time form) is the latest
// expiry of a token it revokes: a consumer may forget the revocation after
// it, the tokens being refused as expired by then. Every service that
// verifies tokens keeps these in memory (internal/revoked); the views
// ignore them.
type SessionRevoked struct {
	SessionID string `json:"session_id,omitzero"`
	ExpiresAt string `json:"expires_at"`
}

// UserRenamed (users topic, key = user id, feature level 3): UserID now goes
// by Nickname; Previous is the nickname it replaces. The user, its id, its
// memberships and read marks stay. The views' users row follows; the
// token that carried Previous is revoked by a session.revoked appended
// after it (tokens carry the nickname).
type UserRenamed struct {
	Nickname string `json:"nickname"`
	Previous string `json:"previous"`
}

// MemberRenamed (rooms topic, feature level 3): UserID, a member of RoomID,
// renamed itself (user.renamed) while in the room. It takes the room's next
// seq like a join, so the room's members, presence and live frames show the
// new name from this point of the room's log on, in order with its messages.
// Messages keep the nickname they were sent with.
type MemberRenamed struct {
	Nickname string `json:"nickname"`
	Previous string `json:"previous"`
}

func (UserRegistered) EventType() string { return TypeUserRegistered }
func (UserRenamed) EventType() string    { return TypeUserRenamed }
func (MemberRenamed) EventType() string  { return TypeMemberRenamed }
func (RoomCreated) EventType() string    { return TypeRoomCreated }
func (RoomProposed) EventType() string   { return TypeRoomProposed }
func (RoomApproved) EventType() string   { return TypeRoomApproved }
func (RoomRejected) EventType() string   { return TypeRoomRejected }
func (RoomJoined) EventType() string     { return TypeRoomJoined }
func (RoomLeft) EventType() string       { return TypeRoomLeft }
func (MessageSent) EventType() string    { return TypeMessageSent }
func (ReadMarkMoved) EventType() string  { return TypeReadMarkMoved }
func (SessionRevoked) EventType() string { return TypeSessionRevoked }
func (MessageEdited) EventType() string  { return TypeMessageEdited }
func (MessageDeleted) EventType() string { return TypeMessageDeleted }
func (ReactionAdded) EventType() string  { return TypeMessageReactionAdded }
func (ReactionRemoved) EventType() string {
	return TypeMessageReactionRemoved
}
