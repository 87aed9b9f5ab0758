package query

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"happychat/internal/httperr"
	"happychat/internal/viewpos"
	"happychat/query/openapi"
	"happychat/schemas"
	"happychat/schemas/token"
)

// The HTTP layer only binds, calls and renders: it parses the request into a
// use case's typed arguments, calls it, and writes the answer or the error
// envelope.

// HeaderProjectedSeq carries, on history responses, the room's highest seq
// that the history view has projected (see projected_seq.go).
const HeaderProjectedSeq = "X-Projected-Seq"

// writeJSON renders v with the system's encoder (schemas.Marshal).
func writeJSON(c *gin.Context, status int, v any) {
	b, err := schemas.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encode response"}}`)
	}
	c.Data(status, "application/json; charset=utf-8", b)
}

// fail renders err as the error envelope; internal errors are logged (the
// client sees only "internal error").
func (s *Service) fail(c *gin.Context, err error) {
	e := schemas.AsError(err)
	switch e.Code {
	case schemas.CodeInternal:
		s.log.Error("query request failed", "route", c.FullPath(), "err", err)
	case schemas.CodeUnavailable:
		s.log.Warn("query request unavailable", "route", c.FullPath(), "err", err)
	}
	httperr.Write(c.Writer, e)
	c.Abort()
}

// begin identifies the caller and parses the query string against the
// route's parameter names.
func (s *Service) begin(c *gin.Context, allowed ...string) (Caller, params, bool) {
	caller, err := s.identify(c.GetHeader("Authorization"))
	if err != nil {
		s.fail(c, err)
		return Caller{}, params{}, false
	}
	p, err := parseParams(c.Request.URL.RawQuery, allowed...)
	if err != nil {
		s.fail(c, err)
		return Caller{}, params{}, false
	}
	if err := s.waitPosition(c); err != nil {
		s.fail(c, err)
		return Caller{}, params{}, false
	}
	return caller, p, true
}

// waitPosition is read-your-writes: a request carrying the position of the
// caller's last writes (viewpos.Header, from a command's answer) is
// answered once the PostgreSQL views include them, or 503 with Retry-After
// after viewpos.Wait.
func (s *Service) waitPosition(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.QueryTimeout)
	defer cancel()
	if err := viewpos.WaitHeader(ctx, s.pg, c.GetHeader(viewpos.Header), s.cfg.Views); err != nil {
		return storeError(ctx, err)
	}
	return nil
}

// roomsBody is the room list. NextCursor (an extension) is null on the last
// page; pass it back as ?cursor= for the next one.
type roomsBody struct {
	Rooms      []schemas.Room `json:"rooms"`
	NextCursor *string        `json:"next_cursor"`
}

func (s *Service) httpConversations(c *gin.Context) {
	caller, _, ok := s.begin(c)
	if !ok {
		return
	}
	rooms, err := s.Conversations(c.Request.Context(), caller)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, struct {
		Conversations []schemas.Room `json:"conversations"`
	}{rooms})
}

func (s *Service) httpGetRoom(c *gin.Context) {
	caller, _, ok := s.begin(c)
	if !ok {
		return
	}
	id, err := roomPathID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	room, err := s.GetRoom(c.Request.Context(), caller, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, room)
}

// The two page shapes: a backward page names next_before, a forward page
// next_after; a zero id renders as null.
type backwardPage struct {
	Messages   []schemas.Message `json:"messages"`
	NextBefore schemas.ID        `json:"next_before"`
}

type forwardPage struct {
	Messages  []schemas.Message `json:"messages"`
	NextAfter schemas.ID        `json:"next_after"`
}

func (s *Service) httpMessages(c *gin.Context) {
	caller, p, ok := s.begin(c, "before", "after", "limit")
	if !ok {
		return
	}
	q, err := bindHistory(c.Param("id"), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.Messages(c.Request.Context(), caller, q.room, q.HistoryQuery)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header(HeaderProjectedSeq, strconv.FormatInt(page.ProjectedSeq, 10))
	if page.Forward {
		writeJSON(c, http.StatusOK, forwardPage{Messages: page.Messages, NextAfter: page.Next})
		return
	}
	writeJSON(c, http.StatusOK, backwardPage{Messages: page.Messages, NextBefore: page.Next})
}

// timelineBody is a timeline page (timeline.go): the items newest first;
// next_before_seq is null on the page that reaches the room's first event.
type timelineBody struct {
	Items         []TimelineItem `json:"items"`
	NextBeforeSeq *int64         `json:"next_before_seq"`
}

func (s *Service) httpTimeline(c *gin.Context) {
	caller, p, ok := s.begin(c, "before_seq", "limit")
	if !ok {
		return
	}
	room, q, err := bindTimeline(c.Param("id"), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	page, err := s.Timeline(c.Request.Context(), caller, room, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	body := timelineBody{Items: page.Items}
	if page.NextBeforeSeq != 0 {
		body.NextBeforeSeq = &page.NextBeforeSeq
	}
	writeJSON(c, http.StatusOK, body)
}

func bindTimeline(roomParam string, p params) (schemas.ID, TimelineQuery, error) {
	room, err := roomPathID(roomParam)
	if err != nil {
		return 0, TimelineQuery{}, err
	}
	before, err := p.optInt("before_seq", 0, 1, maxSeqParam)
	if err != nil {
		return 0, TimelineQuery{}, err
	}
	limit, err := p.optInt("limit", DefaultTimelineLimit, 1, MaxTimelineLimit)
	if err != nil {
		return 0, TimelineQuery{}, err
	}
	return room, TimelineQuery{BeforeSeq: int64(before), Limit: limit}, nil
}

// maxSeqParam bounds before_seq: the largest integer a JavaScript client
// holds exactly; no room's seq comes near it.
const maxSeqParam = 1<<53 - 1

type historyRequest struct {
	room schemas.ID
	HistoryQuery
}

func bindHistory(roomParam string, p params) (historyRequest, error) {
	room, err := roomPathID(roomParam)
	if err != nil {
		return historyRequest{}, err
	}
	before, err := p.optID("before")
	if err != nil {
		return historyRequest{}, err
	}
	after, err := p.optID("after")
	if err != nil {
		return historyRequest{}, err
	}
	if before != 0 && after != 0 {
		return historyRequest{}, badRequest("before and after exclude each other")
	}
	limit, err := p.optInt("limit", DefaultPageLimit, 1, MaxPageLimit)
	if err != nil {
		return historyRequest{}, err
	}
	return historyRequest{room: room, HistoryQuery: HistoryQuery{Before: before, After: after, Limit: limit}}, nil
}

func (s *Service) httpExport(c *gin.Context) {
	caller, _, ok := s.begin(c)
	if !ok {
		return
	}
	room, err := roomPathID(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx := c.Request.Context()
	exp, err := s.OpenExport(ctx, caller, room)
	if err != nil {
		s.fail(c, err)
		return
	}
	defer exp.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", `attachment; filename="room-`+room.String()+`.ndjson"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set(HeaderProjectedSeq, strconv.FormatInt(exp.ProjectedSeq, 10))
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()

	bw := bufio.NewWriterSize(c.Writer, 64<<10)
	line := make([]byte, 0, 1024)
	flushEvery, unflushed := s.cfg.ExportFlushRows, 0
	var clientErr error // a failed write: the client is gone
	still := s.stillValid(caller, c.GetHeader("Authorization"))
	flush := func() error {
		// An export outlives its token's checks otherwise: a logout (or
		// the token's expiry) ends the stream at the next flush, as it
		// closes the token's sockets (docs/adr/0007).
		if err := still(); err != nil {
			return err
		}
		if clientErr = bw.Flush(); clientErr != nil {
			return clientErr
		}
		c.Writer.Flush()
		return nil
	}
	n, err := exp.Stream(ctx, func(m *schemas.Message) error {
		line = append(appendMessage(line[:0], m), '\n')
		if _, clientErr = bw.Write(line); clientErr != nil {
			return clientErr
		}
		if unflushed++; unflushed >= flushEvery {
			unflushed = 0
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		return
	}
	s.metrics.aborted.Inc()
	if clientErr != nil || ctx.Err() != nil || errors.Is(err, context.Canceled) {
		s.log.Info("export ended by the client", "room", room, "messages", n, "err", err)
		return
	}
	// The status line is long gone; end the response abnormally so that the
	// client sees a broken transfer, never a short export that looks whole.
	if errors.Is(err, token.ErrInvalid) {
		s.log.Info("export ended: its token was revoked or expired", "room", room, "messages", n)
	} else {
		s.log.Error("export failed", "room", room, "messages", n, "err", err)
	}
	abortResponse(c)
}

// abortResponse drops the connection without the chunked terminator.
func abortResponse(c *gin.Context) {
	conn, _, err := c.Writer.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

type activityBody struct {
	Buckets []ActivityBucket `json:"buckets"`
}

func (s *Service) httpActivity(c *gin.Context) {
	caller, p, ok := s.begin(c, "room", "bucket", "from", "to")
	if !ok {
		return
	}
	q, err := bindActivity(p)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.Activity(c.Request.Context(), caller, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, activityBody{Buckets: out})
}

func bindActivity(p params) (ActivityQuery, error) {
	room, err := p.optID("room")
	if err != nil {
		return ActivityQuery{}, err
	}
	bucket, err := p.optEnum("bucket", "hour", "minute", "hour", "day")
	if err != nil {
		return ActivityQuery{}, err
	}
	from, to, err := bindRange(p)
	if err != nil {
		return ActivityQuery{}, err
	}
	return ActivityQuery{Room: room, Bucket: bucket, From: from, To: to}, nil
}

func bindRange(p params) (from, to time.Time, err error) {
	if from, _, err = p.optTime("from"); err != nil {
		return from, to, err
	}
	if to, _, err = p.optTime("to"); err != nil {
		return from, to, err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, badRequest("from must be before to")
	}
	return from, to, nil
}

type sendersBody struct {
	Senders []Sender `json:"senders"`
}

func (s *Service) httpTopSenders(c *gin.Context) {
	caller, p, ok := s.begin(c, "room", "from", "to", "limit")
	if !ok {
		return
	}
	q, err := bindTopSenders(p)
	if err != nil {
		s.fail(c, err)
		return
	}
	out, err := s.TopSenders(c.Request.Context(), caller, q)
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, sendersBody{Senders: out})
}

func bindTopSenders(p params) (TopSendersQuery, error) {
	room, err := p.optID("room")
	if err != nil {
		return TopSendersQuery{}, err
	}
	from, to, err := bindRange(p)
	if err != nil {
		return TopSendersQuery{}, err
	}
	limit, err := p.optInt("limit", DefaultTopSenders, 1, MaxTopSenders)
	if err != nil {
		return TopSendersQuery{}, err
	}
	return TopSendersQuery{Room: room, From: from, To: to, Limit: limit}, nil
}

func (s *Service) httpOpenAPI(c *gin.Context) {
	if _, _, ok := s.begin(c); !ok {
		return
	}
	c.Data(http.StatusOK, openapi.ContentType, openapi.Spec())
}
