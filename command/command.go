package command

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// Kind names a room command. The set is closed; every kind is one use case
// in a file of its own.
type Kind string

// The room commands, decided by the owner of the room's partition.
const (
	KindCreateRoom  Kind = "create_room"
	KindApproveRoom Kind = "approve_room"
	KindRejectRoom  Kind = "reject_room"
	KindJoin        Kind = "join"
	KindLeave       Kind = "leave"
	KindSend        Kind = "send"
	KindEdit        Kind = "edit"
	KindDelete      Kind = "delete"
	KindReact       Kind = "react"
	KindUnreact     Kind = "unreact"
	KindPresence    Kind = "presence" // read-only: the owner's authoritative members
	KindRename      Kind = "rename"   // the room's side of a rename (member.renamed)
	// Feature level 4: private rooms, invites, direct messages.
	KindCreatePrivate Kind = "create_private"
	KindInvite        Kind = "invite"
	KindAcceptInvite  Kind = "accept_invite"
	KindAddMember     Kind = "add_member"
	KindCreateDirect  Kind = "create_direct"
	// Feature level 5: a read mark the room sees (read_mark_room.go).
	KindReadMark Kind = "read_mark"
	// Feature level 5: moderation (moderation.go).
	KindKick      Kind = "kick"
	KindBan       Kind = "ban"
	KindUnban     Kind = "unban"
	KindCloseRoom Kind = "close_room"
	// Feature level 5: blocks and reports (block.go, report.go).
	KindBlock         Kind = "block"
	KindUnblock       Kind = "unblock"
	KindReport        Kind = "report"
	KindResolveReport Kind = "resolve_report"
	// kindSwitchLeave ends a membership superseded by a later join in
	// another room (decision 2). It comes from the tail, never from clients.
	kindSwitchLeave Kind = "switch_leave"
)

// Command is one room command. It travels as JSON when forwarded to the
// owner, so it carries everything the decision needs.
type Command struct {
	Kind        Kind       `json:"kind"`
	RoomID      schemas.ID `json:"room_id"`
	UserID      schemas.ID `json:"user_id,omitzero"`
	Nickname    string     `json:"nickname,omitzero"`
	Admin       bool       `json:"admin,omitzero"`
	Title       string     `json:"title,omitzero"`
	Description string     `json:"description,omitzero"`
	Body        string     `json:"body,omitzero"`
	ClientMsgID string     `json:"client_msg_id,omitzero"`
	// Reason is an admin's reason for rejecting a proposal, or a
	// moderator's for a kick, a ban or a close (may be empty).
	Reason string `json:"reason,omitzero"`
	// MessageID names the message an edit, a delete or a reaction is
	// about; ReplyTo the one a send answers.
	MessageID    schemas.ID   `json:"message_id,omitzero"`
	ReplyTo      schemas.ID   `json:"reply_to,omitzero"`
	Mentions     []schemas.ID `json:"mentions,omitzero"`
	Emoji        string       `json:"emoji,omitzero"`
	SwitchTo     schemas.ID   `json:"switch_to,omitzero"`
	SwitchJoinID schemas.ID   `json:"switch_join_id,omitzero"`
	// Peer is the user a direct message is with, or whom a member adds to a
	// private room; PeerNickname is their nickname, found by the instance
	// that took the request (conversation.go).
	Peer         schemas.ID `json:"peer,omitzero"`
	PeerNickname string     `json:"peer_nickname,omitzero"`
	// ShareCode is the share code a direct message was asked with: the
	// owner verifies it again when the command was forwarded.
	ShareCode string `json:"share_code,omitzero"`
	// CodeHash, ExpiresAt and MaxUses describe an invite being made;
	// CodeHash alone names the one being accepted.
	CodeHash  string    `json:"code_hash,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	MaxUses   int       `json:"max_uses,omitzero"`
	// Retry marks a creation under an idempotency key: an existing room
	// with the same id is the earlier request's, and is answered.
	Retry         bool   `json:"retry,omitzero"`
	CorrelationID string `json:"correlation_id,omitzero"`
	// Credential is the caller's user token or admin token, which the
	// owner verifies again when the command was forwarded (forward_auth.go).
	// Never logged.
	Credential string `json:"credential,omitzero"`
}

// Result is the answer to a room command.
type Result struct {
	// Created is true when a room command created something (201 vs 200);
	// Accepted when it was accepted for review (202).
	Created  bool                 `json:"created,omitzero"`
	Accepted bool                 `json:"accepted,omitzero"`
	Room     *schemas.Room        `json:"room,omitzero"`
	Message  *schemas.Message     `json:"message,omitzero"`
	Join     *schemas.JoinResult  `json:"join,omitzero"`
	Leave    *schemas.LeaveResult `json:"leave,omitzero"`
	Members  []schemas.Member     `json:"members,omitzero"`
	// Keys are the data keys a send's texts were sealed under, for the
	// realtime service that forwarded it (cmdproto.KeysHeader); never
	// serialized: a forwarded command's answer goes without them.
	Keys []msgkeys.Key `json:"-"`
	// Records are the records a command committed, offsets set, for the
	// realtime service that forwarded a send (cmdproto.CommittedHeader);
	// never serialized either.
	Records []*kgo.Record `json:"-"`
	// Position is where the command's events are in the log
	// (viewpos.Header's value), also on a forwarded command's answer.
	Position string `json:"position,omitzero"`
	// Done answers a command that has nothing to return (a delete, a
	// reaction): it was committed, or had been already.
	Done bool `json:"done,omitzero"`
	// Invite is the id of an invite just made.
	Invite schemas.ID `json:"invite,omitzero"`
	// Report is the id of the caller's open report of a message.
	Report schemas.ID `json:"report,omitzero"`
	Seq    int64      `json:"seq,omitzero"`
}

// decision is what deciding a command produced: the events to append (in
// order, stamped with the room's next seqs) and the answer to give once they
// are committed.
type decision struct {
	events []schemas.Envelope
	result Result
}

// deps is what a decision may use besides the room: a clock, the id
// generator, the fold of user locations, the earlier sends, and the
// service's rules.
type deps struct {
	now      time.Time
	nextID   func() (schemas.ID, error)
	observe  func(schemas.ID) // floors the ids minted after it
	locate   func(schemas.ID) (location, bool)
	capacity int
	render   func(schemas.Envelope) schemas.Message
	// findSent finds an earlier send with the same key (the batch, the
	// window, then the durable store); an error means it cannot tell.
	findSent func(sentKey) (sent, bool, error)
	// recordSent records a send of the batch being decided.
	recordSent func(sentKey, sent)
	// checkEmit refuses event types the cluster's feature level does not
	// allow yet.
	checkEmit func(schemas.Event) error
	// findMsg finds a message's state (the batch, the owner's table, then
	// the durable store); an error means it cannot tell.
	findMsg func(schemas.ID) (*msgMeta, bool, error)
	// recordMsg records a message's state after a decision of the batch.
	recordMsg func(*msgMeta)
	// editWindow is how long after sending the author may edit.
	editWindow time.Duration
}

// stamp appends an event to the room (tentatively) and to the decision.
func (d *decision) stamp(r *room, dp deps, env schemas.Envelope) error {
	if dp.checkEmit != nil {
		if err := dp.checkEmit(env.Payload); err != nil {
			return err
		}
	}
	id, err := dp.nextID()
	if err != nil {
		return schemas.Errorf(schemas.CodeUnavailable, "cannot mint an id now, retry")
	}
	env.ID, env.RoomID, env.Seq, env.OccurredAt = id, r.id, r.seq+1, dp.now
	if _, err := r.apply(env); err != nil {
		return err
	}
	d.events = append(d.events, env)
	return nil
}

func notFound(msg string) *schemas.Error  { return schemas.Errorf(schemas.CodeNotFound, msg) }
func forbidden(msg string) *schemas.Error { return schemas.Errorf(schemas.CodeForbidden, msg) }

// roomView renders the room as the API shows it.
func roomView(r *room, capacity int) *schemas.Room {
	v := &schemas.Room{
		ID: r.id, Title: r.title, Description: r.description, Status: r.status,
		MemberCount: len(r.members), Capacity: capacity, MessageCount: r.messages,
		CreatedAt: schemas.FormatTime(r.createdAt), Kind: r.kind,
	}
	if !r.lastMessageAt.IsZero() {
		s := schemas.FormatTime(r.lastMessageAt)
		v.LastMessageAt = &s
	}
	return v
}

// decide dispatches a command to its use case. It returns the new room for
// the batch's working set (the decided copy), or nil when nothing changed.
func decide(r *room, cmd Command, dp deps) (decision, *room, error) {
	var (
		d   decision
		err error
	)
	switch cmd.Kind {
	case KindCreateRoom:
		return decideCreateRoom(r, cmd, dp)
	case KindApproveRoom:
		d, err = decideApproveRoom(r, cmd, dp)
	case KindRejectRoom:
		d, err = decideRejectRoom(r, cmd, dp)
	case KindJoin:
		d, err = decideJoin(r, cmd, dp)
	case KindLeave:
		d, err = decideLeave(r, cmd, dp)
	case KindSend:
		d, err = decideSend(r, cmd, dp)
	case KindEdit:
		d, err = decideEdit(r, cmd, dp)
	case KindDelete:
		d, err = decideDelete(r, cmd, dp)
	case KindReact, KindUnreact:
		d, err = decideReaction(r, cmd, dp)
	case kindSwitchLeave:
		d, err = decideSwitchLeave(r, cmd, dp)
	case KindPresence:
		d, err = decidePresence(r)
	case KindRename:
		d, err = decideRename(r, cmd, dp)
	case KindCreatePrivate:
		return decideCreatePrivate(r, cmd, dp)
	case KindCreateDirect:
		return decideCreateDirect(r, cmd, dp)
	case KindInvite:
		d, err = decideInvite(r, cmd, dp)
	case KindAcceptInvite:
		d, err = decideAcceptInvite(r, cmd, dp)
	case KindAddMember:
		d, err = decideAddMember(r, cmd, dp)
	case KindReadMark:
		d, err = decideReadMark(r, cmd, dp)
	case KindKick:
		d, err = decideKick(r, cmd, dp)
	case KindBan:
		d, err = decideBan(r, cmd, dp)
	case KindUnban:
		d, err = decideUnban(r, cmd, dp)
	case KindCloseRoom:
		d, err = decideCloseRoom(r, cmd, dp)
	case KindBlock:
		return decideBlock(r, cmd, dp)
	case KindUnblock:
		d, err = decideUnblock(r, cmd, dp)
	case KindReport:
		d, err = decideReport(r, cmd, dp)
	case KindResolveReport:
		d, err = decideResolveReport(r, cmd, dp)
	default:
		err = badRequest("unknown command")
	}
	if err != nil || len(d.events) == 0 {
		return d, nil, err
	}
	return d, r, nil
}
