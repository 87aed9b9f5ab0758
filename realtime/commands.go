package realtime

import (
	"context"

	"happychat/schemas"
)

// Caller is the authenticated user behind a socket.
type Caller struct {
	UserID   schemas.ID
	Nickname string
	// Token is the caller's bearer token, so that an HTTP implementation of
	// Commands can forward it. It is never logged.
	Token string
}

// Commands is what realtime needs from the command service. cmd wires the
// in-process service (dev mode) or the HTTP client of internal/cmdproto
// (split mode); realtime never imports the command package.
type Commands interface {
	// Send appends a message (same rules and idempotency as POST
	// /v1/rooms/{id}/messages) and returns it once durable. Errors are
	// *schemas.Error (forbidden, rate_limited, bad_request, unavailable, …);
	// anything else is reported to the client as "internal".
	Send(ctx context.Context, c Caller, room schemas.ID, body, clientMsgID string) (schemas.Message, error)
	// Presence returns the room's authoritative current members and the
	// room's seq at that moment: the members reflect every event up to and
	// including seq, and every event with a seq up to it is committed to the
	// log. An unknown room is a *schemas.Error with CodeNotFound.
	Presence(ctx context.Context, room schemas.ID) (members []schemas.Member, seq int64, err error)
}

// Replies are sends with a reply_to or mentions (feature level 3). A
// Commands that also implements Replier takes them; to one that does not,
// such a send frame is refused (bad_request).
type Replies struct {
	ReplyTo  schemas.ID
	Mentions []schemas.ID
}

// Replier sends with a reply and mentions, with the rules of POST
// /v1/rooms/{id}/messages and its reply_to and mentions.
type Replier interface {
	SendReply(ctx context.Context, c Caller, room schemas.ID, body, clientMsgID string, r Replies) (schemas.Message, error)
}

// Moderation renders message text for display: profanity softened, screen
// effects named. *moderation.Rules implements it; realtime applies the same
// rules as the history read paths so a message looks the same live and later.
type Moderation interface {
	Soften(text string) string
	Effects(text string) []string
}
