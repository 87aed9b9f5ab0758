package command

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"happychat/schemas"
)

// The routes of room moderation (feature level 5). They bind, call the Go
// API (moderation.go) and render the room.
func (s *Service) moderationRoutes(r gin.IRouter, addr gin.HandlerFunc) {
	r.POST("/v1/rooms/:id/kick", addr, s.moderate(KindKick))
	r.POST("/v1/rooms/:id/ban", addr, s.moderate(KindBan))
	r.POST("/v1/rooms/:id/unban", addr, s.moderate(KindUnban))
	r.POST("/v1/rooms/:id/close", addr, s.postClose)
}

func (s *Service) moderate(kind Kind) gin.HandlerFunc {
	return func(c *gin.Context) {
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
