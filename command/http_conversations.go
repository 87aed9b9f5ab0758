package command

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"happychat/internal/clientjson"
	"happychat/schemas"
)

// The routes of private rooms, invites and direct messages (feature level
// 4). They bind, call the Go API (conversations.go) and render.
func (s *Service) conversationRoutes(r gin.IRouter, addr gin.HandlerFunc) {
	r.POST("/v1/rooms/:id/invites", addr, s.postInvite)
	r.POST("/v1/rooms/:id/members", addr, s.postMember)
	r.POST("/v1/invites/:code/accept", addr, s.postAcceptInvite)
	r.POST("/v1/dms", addr, s.postDirect)
	r.GET("/v1/dms/share-code", addr, s.getShareCode)
}

// postPrivateRoom is POST /v1/rooms with a visibility other than public.
func (s *Service) postPrivateRoom(c *gin.Context, caller Caller, visibility, title, description string) {
	if visibility != schemas.RoomKindPrivate {
		s.fail(c, badRequest(`visibility must be "public" or "private"`))
		return
	}
	if v, sent := c.Request.Header["Idempotency-Key"]; sent && v[0] == "" {
		s.fail(c, badRequest("Idempotency-Key must not be empty: send 1-64 letters, digits and -_.: or no header"))
		return
	}
	room, err := s.CreatePrivateRoom(c.Request.Context(), caller, c.GetHeader("Idempotency-Key"), title, description)
	s.respond(c, http.StatusCreated, room, err)
}

func (s *Service) postInvite(c *gin.Context) {
	var in struct {
		ExpiresInSeconds clientjson.Whole `json:"expires_in_seconds,omitzero"`
		MaxUses          clientjson.Whole `json:"max_uses,omitzero"`
	}
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, &in, false) {
		return
	}
	if in.ExpiresInSeconds < 0 || int64(in.ExpiresInSeconds) > int64(MaxInviteTTL/time.Second) {
		s.fail(c, badRequest("expires_in_seconds must be 60..2592000"))
		return
	}
	inv, err := s.CreateInvite(c.Request.Context(), caller, room, time.Duration(in.ExpiresInSeconds)*time.Second, int(min(max(in.MaxUses, -1), 1<<20)))
	s.respond(c, http.StatusCreated, inv, err)
}

func (s *Service) postAcceptInvite(c *gin.Context) {
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	room, _, err := s.AcceptInvite(c.Request.Context(), caller, c.Param("code"))
	s.respond(c, http.StatusOK, room, err)
}

func (s *Service) postMember(c *gin.Context) {
	var in struct {
		UserID schemas.ID `json:"user_id"`
	}
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	out, _, err := s.AddMember(c.Request.Context(), caller, room, in.UserID)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postDirect(c *gin.Context) {
	var in struct {
		UserID    schemas.ID `json:"user_id,omitzero"`
		ShareCode string     `json:"share_code,omitzero"`
	}
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	room, created, err := s.OpenDirect(c.Request.Context(), caller, in.UserID, in.ShareCode)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.respond(c, status, room, err)
}

func (s *Service) getShareCode(c *gin.Context) {
	caller, ok := s.authenticate(c, true)
	if !ok {
		return
	}
	code, err := s.ShareCode(caller)
	s.respond(c, http.StatusOK, struct {
		ShareCode string `json:"share_code"`
	}{code}, err)
}
