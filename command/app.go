package command

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"happychat/schemas"
)

// The use cases of the command service, one file each:
//
//	Register      sessions.go       POST /v1/sessions
//	Logout        logout.go         DELETE /v1/sessions/current
//	Rename        rename.go         PATCH /v1/sessions/current
//	CreateRoom    create_room.go    POST /v1/rooms
//	ApproveRoom   approve_room.go   POST /v1/rooms/{id}/approve
//	RejectRoom    reject_room.go    POST /v1/rooms/{id}/reject
//	Join          join_room.go      POST /v1/rooms/{id}/join
//	Leave         leave_room.go     POST /v1/rooms/{id}/leave
//	Send          send_message.go   POST /v1/rooms/{id}/messages, the socket's send
//	Edit          edit_message.go   PATCH /v1/rooms/{id}/messages/{message_id}
//	Delete        delete_message.go DELETE /v1/rooms/{id}/messages/{message_id}
//	React         react.go          PUT|DELETE /v1/rooms/{id}/messages/{message_id}/reactions/{emoji}
//	MoveReadMark  read_mark.go      POST /v1/rooms/{id}/read
//	Presence      presence.go       the realtime service's membership check
//
// The methods below are the Go API: they validate, rate-limit, and execute on
// the owner of the room's partition. The HTTP handlers call exactly these.

// Caller is who a request speaks for: a user (from a token) or the operator
// (the admin token, which has no user id).
type Caller struct {
	UserID   schemas.ID
	Nickname string
	Admin    bool
	// Token is the credential the caller presented (its user token, or the
	// admin token). A command forwarded to its room's owner carries it, and
	// the owner verifies it again: the internal secret alone never makes
	// anyone a user or an admin (docs/command.md, "Forwarding").
	Token string
}

func (c Caller) needUser() error {
	if c.UserID == 0 {
		return forbidden("this needs a user session, not the admin token")
	}
	return nil
}

// CreateRoom opens a room (admin: created, status open) or proposes one
// (anyone else: accepted, status proposed). With an idempotency key (the
// Idempotency-Key header), a retry by the same caller answers the room the
// first request created instead of creating another.
func (s *Service) CreateRoom(ctx context.Context, c Caller, key, title, description string) (schemas.Room, bool, error) {
	title, err := cleanName("title", title, maxTitle)
	if err != nil {
		return schemas.Room{}, false, err
	}
	if description, err = cleanText("description", description, 0, maxDescription); err != nil {
		return schemas.Room{}, false, err
	}
	if key != "" {
		if key, err = cleanKey("Idempotency-Key", key); err != nil {
			return schemas.Room{}, false, err
		}
	}
	if !c.Admin {
		if err := c.needUser(); err != nil {
			return schemas.Room{}, false, err
		}
		if err := allow(s.limits.proposal, c.UserID, "too many room proposals, try again later"); err != nil {
			return schemas.Room{}, false, err
		}
	}
	id, err := s.mintID()
	if err != nil {
		return schemas.Room{}, false, err
	}
	if key != "" {
		// The first request's room id, if there was one: its room may
		// exist already (then it is answered) or not yet (then it is
		// created now, with that id).
		if id, err = s.store.roomForKey(ctx, c.keyScope(), key, id); err != nil {
			s.log.Warn("room idempotency key", "err", err)
			return schemas.Room{}, false, unavailable("cannot check the Idempotency-Key now, retry")
		}
	}
	res, err := s.Execute(ctx, Command{Kind: KindCreateRoom, RoomID: id, UserID: c.UserID, Admin: c.Admin, Credential: c.Token,
		Title: title, Description: description, Retry: key != ""})
	if err != nil {
		return schemas.Room{}, false, err
	}
	return *res.Room, res.Created, nil
}

// keyScope names the caller for idempotency keys: keys of different
// callers never meet.
func (c Caller) keyScope() string {
	if c.Admin {
		return "admin"
	}
	return c.UserID.String()
}

// ApproveRoom opens a proposed room (admin only).
func (s *Service) ApproveRoom(ctx context.Context, c Caller, room schemas.ID) (schemas.Room, error) {
	if !c.Admin {
		return schemas.Room{}, forbidden("only an admin may approve a room")
	}
	res, err := s.Execute(ctx, Command{Kind: KindApproveRoom, RoomID: room, Admin: true, Credential: c.Token})
	if err != nil {
		return schemas.Room{}, err
	}
	return *res.Room, nil
}

// RejectRoom turns a proposed room down (admin only), with an optional
// reason for the proposer (trimmed, at most schemas.MaxRejectReason code
// points, no control characters but line breaks).
func (s *Service) RejectRoom(ctx context.Context, c Caller, room schemas.ID, reason string) (schemas.Room, error) {
	if !c.Admin {
		return schemas.Room{}, forbidden("only an admin may reject a room")
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > schemas.MaxRejectReason || strings.ContainsFunc(reason, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) {
		return schemas.Room{}, badRequest(fmt.Sprintf("reason must be at most %d characters without control characters", schemas.MaxRejectReason))
	}
	res, err := s.Execute(ctx, Command{Kind: KindRejectRoom, RoomID: room, Admin: true, Reason: reason, Credential: c.Token})
	if err != nil {
		return schemas.Room{}, err
	}
	return *res.Room, nil
}

// Join makes the caller a member of room, leaving their previous room.
func (s *Service) Join(ctx context.Context, c Caller, room schemas.ID) (schemas.JoinResult, error) {
	if err := c.needUser(); err != nil {
		return schemas.JoinResult{}, err
	}
	if err := allow(s.limits.join, c.UserID, slowDown); err != nil {
		return schemas.JoinResult{}, err
	}
	if err := allow(s.limits.roomChurn, room, "too many joins and leaves in this room, slow down"); err != nil {
		return schemas.JoinResult{}, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindJoin, RoomID: room, UserID: c.UserID, Nickname: c.Nickname, Credential: c.Token})
	if err != nil {
		return schemas.JoinResult{}, err
	}
	return *res.Join, nil
}

// Leave ends the caller's membership of room (idempotent).
func (s *Service) Leave(ctx context.Context, c Caller, room schemas.ID) (schemas.LeaveResult, error) {
	if err := c.needUser(); err != nil {
		return schemas.LeaveResult{}, err
	}
	if err := allow(s.limits.leave, c.UserID, slowDown); err != nil {
		return schemas.LeaveResult{}, err
	}
	if err := allow(s.limits.roomChurn, room, "too many joins and leaves in this room, slow down"); err != nil {
		return schemas.LeaveResult{}, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindLeave, RoomID: room, UserID: c.UserID, Credential: c.Token})
	if err != nil {
		return schemas.LeaveResult{}, err
	}
	return *res.Leave, nil
}

// Send posts a message to room once it is committed to the log. A retry with
// the same clientMsgID returns the original message.
func (s *Service) Send(ctx context.Context, c Caller, room schemas.ID, body, clientMsgID string) (schemas.Message, error) {
	return s.SendMessage(ctx, c, room, SendInput{Body: body, ClientMsgID: clientMsgID})
}

// SendInput is a send: its text and idempotency key, and optionally the
// message it answers (same room) and the members it mentions.
type SendInput struct {
	Body        string
	ClientMsgID string
	ReplyTo     schemas.ID
	Mentions    []schemas.ID
}

// SendMessage is Send with a reply and mentions.
func (s *Service) SendMessage(ctx context.Context, c Caller, room schemas.ID, in SendInput) (schemas.Message, error) {
	res, err := s.sendMessage(ctx, c, room, in)
	if err != nil {
		return schemas.Message{}, err
	}
	return *res.Message, nil
}

// sendMessage is SendMessage's whole result: the message and the keys its
// texts were sealed under (Result.Keys).
func (s *Service) sendMessage(ctx context.Context, c Caller, room schemas.ID, in SendInput) (Result, error) {
	if err := c.needUser(); err != nil {
		return Result{}, err
	}
	body, err := cleanText("body", in.Body, 1, maxBody)
	if err != nil {
		return Result{}, err
	}
	clientMsgID, err := cleanClientMsgID(in.ClientMsgID)
	if err != nil {
		return Result{}, err
	}
	if err := cleanMentions(in.Mentions, s.cfg.Capacity); err != nil {
		return Result{}, err
	}
	if err := allow(s.limits.send, c.UserID, slowDown); err != nil {
		return Result{}, err
	}
	res, err := s.Execute(ctx, Command{Kind: KindSend, RoomID: room, UserID: c.UserID, Nickname: c.Nickname,
		Body: body, ClientMsgID: clientMsgID, ReplyTo: in.ReplyTo, Mentions: in.Mentions, Credential: c.Token})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Presence returns the room's current members and the seq they reflect, as
// the owner of the room knows them.
func (s *Service) Presence(ctx context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	res, err := s.Execute(ctx, Command{Kind: KindPresence, RoomID: room})
	if err != nil {
		return nil, 0, err
	}
	if res.Members == nil {
		res.Members = []schemas.Member{}
	}
	return res.Members, res.Seq, nil
}
