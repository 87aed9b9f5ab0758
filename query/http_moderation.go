package query

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"happychat/schemas"
)

// The read routes of blocks and reports (feature level 5).

func (s *Service) httpBlocks(c *gin.Context) {
	caller, _, ok := s.begin(c)
	if !ok {
		return
	}
	blocks, err := s.Blocks(c.Request.Context(), caller)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, struct {
		Blocks []Block `json:"blocks"`
	}{blocks})
}

// Page limits of the report queue.
const (
	DefaultReportsLimit = 50
	MaxReportsLimit     = 100
)

func (s *Service) httpReports(c *gin.Context) {
	caller, p, ok := s.begin(c, "status", "before", "limit")
	if !ok {
		return
	}
	var (
		q   ReportsQuery
		err error
	)
	if q.Status, err = p.optEnum("status", ReportsOpen, ReportsOpen, ReportsResolved, ReportsAll); err == nil {
		if q.Before, err = p.optID("before"); err == nil {
			q.Limit, err = p.optInt("limit", DefaultReportsLimit, 1, MaxReportsLimit)
		}
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	reports, next, err := s.Reports(c.Request.Context(), caller, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := struct {
		Reports    []Report    `json:"reports"`
		NextBefore *schemas.ID `json:"next_before"`
	}{Reports: reports}
	if next != 0 {
		body.NextBefore = &next
	}
	writeJSON(c, http.StatusOK, body)
}
