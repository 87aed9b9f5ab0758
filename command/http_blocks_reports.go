package command

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"happychat/schemas"
)

// The routes of blocks and reports (feature level 5). They bind, call the
// Go API (block.go, report.go, resolve_report.go) and render.
func (s *Service) blockReportRoutes(r gin.IRouter, addr gin.HandlerFunc) {
	r.POST("/v1/me/blocks", addr, s.postBlock)
	r.DELETE("/v1/me/blocks/:user_id", addr, s.deleteBlock)
	r.POST("/v1/rooms/:id/messages/:message_id/reports", addr, s.postReport)
	r.POST("/v1/admin/reports/:id/resolve", addr, s.postResolveReport)
}

func (s *Service) postBlock(c *gin.Context) {
	var in struct {
		UserID schemas.ID `json:"user_id"`
	}
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	s.noContent(c, s.Block(c.Request.Context(), caller, in.UserID))
}

func (s *Service) deleteBlock(c *gin.Context) {
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	user, err := schemas.ParseID(c.Param("user_id"))
	if err != nil {
		s.fail(c, badRequest("user_id must be a decimal id"))
		return
	}
	s.noContent(c, s.Unblock(c.Request.Context(), caller, user))
}

// reportOut is the answer to a report: its id (the report.filed event's).
type reportOut struct {
	ReportID schemas.ID `json:"report_id"`
}

func (s *Service) postReport(c *gin.Context) {
	var in struct {
		Reason string `json:"reason"`
		Note   string `json:"note,omitzero"`
	}
	caller, room, message, ok := s.messageRequest(c)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	id, created, err := s.Report(c.Request.Context(), caller, room, message, in.Reason, in.Note)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.respond(c, status, reportOut{id}, err)
}

func (s *Service) postResolveReport(c *gin.Context) {
	var in struct {
		Outcome string `json:"outcome"`
	}
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	id, err := schemas.ParseID(c.Param("id"))
	if err != nil {
		s.fail(c, badRequest("report id must be a decimal id"))
		return
	}
	s.noContent(c, s.ResolveReport(c.Request.Context(), caller, id, in.Outcome))
}
