package schemas

// API shapes shared by the services that render them (command answers a send
// with a Message, query pages history as Messages, realtime pushes them).
// Field names are the contract's (../shared/API.md); ids are decimal strings.

// Message is a chat message as clients see it: Body is softened, Effects
// names the screen effects its trigger words call for. The members after Seq
// appear only when set: EditedAt once the author edited it (Body is then the
// latest text); Deleted for a tombstone (Body empty, no effects, reactions,
// mentions or reply); ReplyTo when it answers another message; Reactions per
// emoji with the members who reacted; Mentions the user ids it calls by name.
type Message struct {
	ID          ID         `json:"id"`
	RoomID      ID         `json:"room_id"`
	UserID      ID         `json:"user_id"`
	Nickname    string     `json:"nickname"`
	Body        string     `json:"body"`
	SentAt      string     `json:"sent_at"`
	ClientMsgID string     `json:"client_msg_id"`
	Effects     []string   `json:"effects"`
	Seq         int64      `json:"seq"`
	EditedAt    string     `json:"edited_at,omitzero"`
	Deleted     bool       `json:"deleted,omitzero"`
	ReplyTo     *ReplyTo   `json:"reply_to,omitzero"`
	Reactions   []Reaction `json:"reactions,omitempty"`
	Mentions    []ID       `json:"mentions,omitempty"`
}

// Reaction is one emoji on a message and the members who reacted with it, in
// the order they did. Frames are encoded once per room, so every client
// learns from UserIDs whether its own user reacted.
type Reaction struct {
	Emoji   string `json:"emoji"`
	UserIDs []ID   `json:"user_ids"`
}

// Room is a chat topic as clients see it. Unread is present only for an
// authenticated caller in a room it is or has been a member of; Members only
// on GET /v1/rooms/{id}.
type Room struct {
	ID            ID        `json:"id"`
	Title         string    `json:"title"`
	Description   string    `json:"description"`
	Status        string    `json:"status"`
	MemberCount   int       `json:"member_count"`
	Capacity      int       `json:"capacity"`
	MessageCount  int64     `json:"message_count"`
	LastMessageAt *string   `json:"last_message_at"`
	CreatedAt     string    `json:"created_at"`
	Unread        *int64    `json:"unread,omitzero"`
	Members       *[]Member `json:"members,omitzero"`
	// ProposedBy (an extension of the query service) names the user who
	// proposed the room, on rooms that began as a proposal.
	ProposedBy *Proposer `json:"proposed_by,omitzero"`
	// Kind is "private" or "direct" for the rooms of feature level 4
	// (RoomKindPrivate, RoomKindDirect); absent on a topic room.
	Kind string `json:"kind,omitzero"`
}

// Proposer is who proposed a room; Nickname is the user's current one
// ("" while the users view has not caught up).
type Proposer struct {
	UserID   ID     `json:"user_id"`
	Nickname string `json:"nickname"`
}

// Member is a current member of a room.
type Member struct {
	UserID   ID     `json:"user_id"`
	Nickname string `json:"nickname"`
	JoinedAt string `json:"joined_at"`
	// ReadUpTo is the member's read mark as the room sees it (an extension,
	// feature level 5: "seen by"); absent when the member has none.
	ReadUpTo ID `json:"read_up_to,omitzero"`
}

// Session is the answer to POST /v1/sessions.
type Session struct {
	UserID   ID     `json:"user_id"`
	Nickname string `json:"nickname"`
	Token    string `json:"token"`
	Admin    bool   `json:"admin"`
}

// JoinResult is the answer to POST /v1/rooms/{id}/join.
type JoinResult struct {
	RoomID     ID  `json:"room_id"`
	LeftRoomID *ID `json:"left_room_id"`
}

// LeaveResult is the answer to POST /v1/rooms/{id}/leave.
type LeaveResult struct {
	RoomID ID `json:"room_id"`
}
