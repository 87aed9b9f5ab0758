package realtime

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Typing indicators (docs/realtime.md, "Typing"). A member's client says
// it is typing — a {"type":"typing"} frame on its socket, or POST
// /v1/rooms/{id}/typing beside a stream — at most once per
// Config.TypingInterval; the instance publishes it on the typing topic
// (Names.Typing), which every instance tails from its end and hands to its
// live subscriptions of the room as a typing frame. Nothing of it is an
// event: it is not in the rooms topic, takes no seq, is not resumed, and a
// full queue skips it rather than cutting the socket. The client shows it
// for expires_in_ms unless a newer one comes.

// typingRecord is a typing topic record's value.
type typingRecord struct {
	RoomID   schemas.ID `json:"room_id"`
	UserID   schemas.ID `json:"user_id"`
	Nickname string     `json:"nickname"`
}

// typingFrame is the frame a room's subscriptions get.
type typingFrame struct {
	Type        string     `json:"type"`
	RoomID      schemas.ID `json:"room_id"`
	UserID      schemas.ID `json:"user_id"`
	Nickname    string     `json:"nickname"`
	ExpiresInMs int64      `json:"expires_in_ms"`
}

// typingClient is the instance's client of the typing topic, set once its
// tail runs; nil until then (typing is dropped).
type typingClient = atomic.Pointer[kgo.Client]

// tailTyping tails the typing topic from its end until ctx ends. It runs
// beside the rooms topic's tail. A record older than the indicator's life
// (a tail that lagged) is skipped.
func (s *Service) tailTyping(ctx context.Context) {
	cl, err := kgo.NewClient(append(s.kafkaOpts(),
		kgo.ClientID("happychat-realtime-typing"),
		kgo.ConsumeTopics(s.cfg.Names.Typing),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		// A hint that expires in seconds: one replica's acknowledgement,
		// no idempotence, and no delivery after the hint is stale.
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(s.cfg.TypingTTL),
	)...)
	if err != nil {
		s.log.Warn("realtime: typing indicators off", "err", err)
		return
	}
	defer cl.Close()
	s.typing.Store(cl)
	defer s.typing.Store(nil)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			if time.Since(rec.Timestamp) > s.cfg.TypingTTL {
				return
			}
			var r typingRecord
			if err := json.Unmarshal(rec.Value, &r); err != nil || r.RoomID == 0 {
				return
			}
			if !s.hub.tracked(r.RoomID) {
				return
			}
			s.hub.ephemeral(r.RoomID, controlFrame(typingFrame{Type: typeTyping, RoomID: r.RoomID, UserID: r.UserID,
				Nickname: r.Nickname, ExpiresInMs: s.cfg.TypingTTL.Milliseconds()}))
		})
	}
}

// publishTyping says on the typing topic that caller is typing in room.
// Best effort: without a client yet, or when the produce fails, the hint
// is lost, which its expiry makes harmless. The produce outlives ctx (a
// request answered at once): it is bounded by the delivery timeout.
func (s *Service) publishTyping(ctx context.Context, room schemas.ID, caller Caller) {
	cl := s.typing.Load()
	if cl == nil {
		return
	}
	v, err := schemas.Marshal(typingRecord{RoomID: room, UserID: caller.UserID, Nickname: caller.Nickname})
	if err != nil {
		return
	}
	s.m.typing.Inc()
	cl.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: s.cfg.Names.Typing, Key: schemas.Key(room), Value: v}, nil)
}

// ephemeral offers a frame that is not a room event (typing) to the room's
// live subscriptions; a full queue skips it.
func (h *hub) ephemeral(id schemas.ID, f *frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[id]
	if r == nil || r.blocked {
		return
	}
	for c := range r.subs {
		_ = c.offer(item{f: f})
	}
}

// serveTyping is POST /v1/rooms/{id}/typing (Authorization: Bearer): the
// typing frame of a client that follows the room over SSE, or has no
// socket. 204 once published; the refusals of the stream's request (401,
// 400, 404, 403 for a non-member), and 429 above one per TypingInterval.
func (s *Service) serveTyping(w http.ResponseWriter, r *http.Request, roomParam string) {
	if err := s.Ready(r.Context()); err != nil {
		s.refuse(w, &schemas.Error{Code: schemas.CodeUnavailable, Message: "realtime is starting", RetryAfter: time.Second})
		return
	}
	tok, _ := token.FromHeader(r.Header.Get("Authorization"))
	claims, err := s.cfg.Keys.Verify(tok)
	if err != nil {
		s.refuse(w, token.Refusal(err))
		return
	}
	room, err := schemas.ParseID(roomParam)
	if err != nil {
		s.refuse(w, schemas.Errorf(schemas.CodeBadRequest, "id: "+err.Error()))
		return
	}
	if !s.users.typing(claims.UserID, time.Now()) {
		s.refuse(w, &schemas.Error{Code: schemas.CodeRateLimited, Message: "typing at most once per " + s.cfg.TypingInterval.String(), RetryAfter: s.cfg.TypingInterval})
		return
	}
	members, _, err := s.presence(r.Context(), room)
	if err != nil {
		s.refuse(w, err)
		return
	}
	if !isMember(members, claims.UserID) {
		s.refuse(w, schemas.Errorf(schemas.CodeForbidden, "only members of the room may say they are typing"))
		return
	}
	s.publishTyping(r.Context(), room, Caller{UserID: claims.UserID, Nickname: claims.Nickname})
	w.WriteHeader(http.StatusNoContent)
}
