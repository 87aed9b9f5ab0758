package command

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"happychat/schemas"
)

// The routes of room moderation (feature level 5). They bind, call the Go
// API (moderation.go) and render the room.
func (s *Service) moderationRoutes(r gin.IRouter, addr gin.HandlerFunc) {
	r.POST("/v1/rooms/:id/kick", addr, s.postKick)
	r.POST("/v1/rooms/:id/ban", addr, s.postBan)
	r.POST("/v1/rooms/:id/unban", addr, s.postUnban)
	r.POST("/v1/rooms/:id/close", addr, s.postClose)
}

func (s *Service) postKick(c *gin.Context)  { s.postModeration(c, KindKick) }
func (s *Service) postBan(c *gin.Context)   { s.postModeration(c, KindBan) }
func (s *Service) postUnban(c *gin.Context) { s.postModeration(c, KindUnban) }

// postModeration binds {user_id, reason?} and calls Moderate.
func (s *Service) postModeration(c *gin.Context, kind Kind) {
	var in struct {
		UserID schemas.ID `json:"user_id"`
		Reason string     `json:"reason,omitzero"`
	}
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	out, err := s.Moderate(c.Request.Context(), caller, kind, room, in.UserID, in.Reason)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postClose(c *gin.Context) {
	var in struct {
		Reason string `json:"reason,omitzero"`
	}
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, &in, false) {
		return
	}
	out, err := s.CloseRoom(c.Request.Context(), caller, room, in.Reason)
	s.respond(c, http.StatusOK, out, err)
}
