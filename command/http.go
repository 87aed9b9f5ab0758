package command

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"happychat/internal/clientjson"
	"happychat/internal/cmdproto"
	"happychat/internal/httperr"
	"happychat/internal/viewpos"
	"happychat/schemas"
	"happychat/schemas/token"
)

// maxBodyBytes caps every request body before decoding: the largest valid
// body (2,000 code points of 4 bytes, JSON-escaped) fits well inside.
const maxBodyBytes = 64 << 10

// Routes mounts the write routes of the API on r, the public listener. They
// take the per-address limit first: it is the cheapest check and the only
// one a client without a token meets.
func (s *Service) Routes(r gin.IRouter) {
	r = r.Group("", recordPositions)
	addr := s.doors.all.Gin()
	r.POST("/v1/sessions", addr, s.doors.sessions.Gin(), s.postSession)
	r.DELETE("/v1/sessions/current", addr, s.doors.logouts.Gin(), s.deleteSession)
	r.PATCH("/v1/sessions/current", addr, s.doors.renames.Gin(), s.patchSession)
	pk := s.doors.passkeys.Gin()
	r.POST("/v1/passkeys/register/begin", addr, pk, s.postPasskeyRegisterBegin)
	r.POST("/v1/passkeys/register/finish", addr, pk, s.postPasskeyRegisterFinish)
	r.POST("/v1/passkeys/login/begin", addr, pk, s.postPasskeyLoginBegin)
	r.POST("/v1/passkeys/login/finish", addr, pk, s.postPasskeyLoginFinish)
	r.POST("/v1/passkeys/recover", addr, pk, s.postPasskeyRecover)
	r.POST("/v1/rooms", addr, s.postRoom)
	r.POST("/v1/rooms/:id/approve", addr, s.postApprove)
	r.POST("/v1/rooms/:id/reject", addr, s.postReject)
	r.POST("/v1/rooms/:id/join", addr, s.postJoin)
	r.POST("/v1/rooms/:id/leave", addr, s.postLeave)
	r.POST("/v1/rooms/:id/messages", addr, s.postMessage)
	r.PATCH("/v1/rooms/:id/messages/:message_id", addr, s.patchMessage)
	r.DELETE("/v1/rooms/:id/messages/:message_id", addr, s.deleteMessage)
	r.PUT("/v1/rooms/:id/messages/:message_id/reactions/:emoji", addr, s.putReaction)
	r.DELETE("/v1/rooms/:id/messages/:message_id/reactions/:emoji", addr, s.deleteReaction)
	r.POST("/v1/rooms/:id/read", addr, s.postRead)
	s.conversationRoutes(r, addr)
	s.moderationRoutes(r, addr)
	s.blockReportRoutes(r, addr)
}

// InternalRoutes mounts the internal protocol (cmdproto) on r, the internal
// listener (CHAT_INTERNAL_ADDR), which is never the public one: forwarding
// and presence take no per-address limit, their callers being the other
// instances. A split realtime service reaches the command service only
// here (CHAT_COMMAND_URL), so its sends are served here too: the public
// send route, unchanged (the user's own token, the same limits).
func (s *Service) InternalRoutes(r gin.IRouter) {
	r.POST(cmdproto.CommandsPath, s.handleInternal)
	r.GET(cmdproto.PresenceRoute, s.getPresence)
	r.POST("/v1/rooms/:id/messages", s.doors.all.Gin(), s.postMessageInternal)
}

func (s *Service) postSession(c *gin.Context) {
	var in struct {
		Nickname string `json:"nickname"`
	}
	if !s.bind(c, &in, true) {
		return
	}
	sess, err := s.Register(c.Request.Context(), in.Nickname)
	s.respond(c, http.StatusCreated, sess, err)
}

// patchSession is the rename: 200 with the new session (same user id, new
// nickname, new token) once the events are committed; the old token is
// revoked.
func (s *Service) patchSession(c *gin.Context) {
	var in struct {
		Nickname string `json:"nickname"`
	}
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	sess, err := s.Rename(c.Request.Context(), caller, in.Nickname)
	s.respond(c, http.StatusOK, sess, err)
}

func (s *Service) postPasskeyRegisterBegin(c *gin.Context) {
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	out, err := s.BeginPasskeyRegistration(c.Request.Context(), caller)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postPasskeyRegisterFinish(c *gin.Context) {
	var in passkeyAnswer
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	out, err := s.FinishPasskeyRegistration(c.Request.Context(), caller, in)
	s.respond(c, http.StatusCreated, out, err)
}

func (s *Service) postPasskeyLoginBegin(c *gin.Context) {
	if !s.bind(c, nil, false) {
		return
	}
	out, err := s.BeginPasskeyLogin(c.Request.Context())
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postPasskeyLoginFinish(c *gin.Context) {
	var in passkeyAnswer
	if !s.bind(c, &in, true) {
		return
	}
	out, err := s.FinishPasskeyLogin(c.Request.Context(), in)
	s.respond(c, http.StatusCreated, out, err)
}

func (s *Service) postPasskeyRecover(c *gin.Context) {
	var in struct {
		Code string `json:"code"`
	}
	if !s.bind(c, &in, true) {
		return
	}
	out, err := s.Recover(c.Request.Context(), in.Code)
	s.respond(c, http.StatusCreated, out, err)
}

// deleteSession is the logout: 204 once the token's revocation is
// committed. It takes no body.
func (s *Service) deleteSession(c *gin.Context) {
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	if err := s.Logout(c.Request.Context(), caller); err != nil {
		s.fail(c, err)
		return
	}
	writePosition(c)
	c.Status(http.StatusNoContent)
}

// recordPositions gives every command request a viewpos.Recorder: the
// positions of the events it appends come back in the answer's
// viewpos.Header (writePosition), for the client to pass to its next
// reads (read-your-writes, docs/api.md).
func recordPositions(c *gin.Context) {
	ctx, _ := viewpos.WithRecorder(c.Request.Context())
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// writePosition sets viewpos.Header on a successful answer that appended
// something.
func writePosition(c *gin.Context) {
	if v := viewpos.RecorderOf(c.Request.Context()).String(); v != "" {
		c.Header(viewpos.Header, v)
	}
}

func (s *Service) postRoom(c *gin.Context) {
	var in struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		// Visibility "private" opens a private room (level 4); absent or
		// "public", a topic (http_conversations.go).
		Visibility string `json:"visibility,omitzero"`
	}
	caller, ok := s.authenticate(c, true)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	if in.Visibility != "" && in.Visibility != "public" {
		s.postPrivateRoom(c, caller, in.Visibility, in.Title, in.Description)
		return
	}
	// An empty header is a key that breaks the key's rule (1-64
	// characters), not an absent one: the client meant to send a key.
	if v, sent := c.Request.Header["Idempotency-Key"]; sent && v[0] == "" {
		s.fail(c, badRequest("Idempotency-Key must not be empty: send 1-64 letters, digits and -_.: or no header"))
		return
	}
	room, created, err := s.CreateRoom(c.Request.Context(), caller, c.GetHeader("Idempotency-Key"), in.Title, in.Description)
	status := http.StatusAccepted
	if created {
		status = http.StatusCreated
	}
	s.respond(c, status, room, err)
}

func (s *Service) postApprove(c *gin.Context) {
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	out, err := s.ApproveRoom(c.Request.Context(), caller, room)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postReject(c *gin.Context) {
	caller, room, ok := s.roomRequest(c)
	var in struct {
		Reason string `json:"reason"`
	}
	if !ok || !s.bind(c, &in, false) {
		return
	}
	out, err := s.RejectRoom(c.Request.Context(), caller, room, in.Reason)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postJoin(c *gin.Context) {
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	out, err := s.Join(c.Request.Context(), caller, room)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postLeave(c *gin.Context) {
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	out, err := s.Leave(c.Request.Context(), caller, room)
	s.respond(c, http.StatusOK, out, err)
}

func (s *Service) postMessage(c *gin.Context) {
	caller, room, in, ok := s.bindSend(c)
	if !ok {
		return
	}
	msg, err := s.SendMessage(c.Request.Context(), caller, room, in)
	s.respond(c, http.StatusCreated, msg, err)
}

// bindSend reads a send's caller, room and body.
func (s *Service) bindSend(c *gin.Context) (Caller, schemas.ID, SendInput, bool) {
	var in struct {
		Body        string       `json:"body"`
		ClientMsgID string       `json:"client_msg_id"`
		ReplyTo     schemas.ID   `json:"reply_to,omitzero"`
		Mentions    []schemas.ID `json:"mentions,omitzero"`
	}
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, &in, true) {
		return Caller{}, 0, SendInput{}, false
	}
	return caller, room, SendInput{Body: in.Body, ClientMsgID: in.ClientMsgID, ReplyTo: in.ReplyTo, Mentions: in.Mentions}, true
}

// postMessageInternal is the send of a split realtime service on the
// internal listener: postMessage, whose answer also carries the message's
// data keys (cmdproto.KeysHeader) and committed records
// (cmdproto.CommittedHeader) when the realtime service's secret came with
// it, so that it delivers the message to its sockets at once and opens it
// without a query to the key store (issue 16). The public listener never
// sends either.
func (s *Service) postMessageInternal(c *gin.Context) {
	if !internalAuthorized(c.GetHeader(cmdproto.SecretHeader), s.presenceSecrets) {
		s.postMessage(c)
		return
	}
	caller, room, in, ok := s.bindSend(c)
	if !ok {
		return
	}
	res, err := s.sendMessage(c.Request.Context(), caller, room, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(res.Keys) > 0 {
		c.Header(cmdproto.KeysHeader, cmdproto.EncodeKeys(res.Keys))
	}
	if len(res.Records) > 0 {
		c.Header(cmdproto.CommittedHeader, cmdproto.EncodeRecords(res.Records))
	}
	s.respond(c, http.StatusCreated, *res.Message, nil)
}

func (s *Service) patchMessage(c *gin.Context) {
	var in struct {
		Body string `json:"body"`
	}
	caller, room, message, ok := s.messageRequest(c)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	msg, err := s.Edit(c.Request.Context(), caller, room, message, in.Body)
	s.respond(c, http.StatusOK, msg, err)
}

func (s *Service) deleteMessage(c *gin.Context) {
	caller, room, message, ok := s.messageRequest(c)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	s.noContent(c, s.Delete(c.Request.Context(), caller, room, message))
}

func (s *Service) putReaction(c *gin.Context)    { s.reaction(c, true) }
func (s *Service) deleteReaction(c *gin.Context) { s.reaction(c, false) }

func (s *Service) reaction(c *gin.Context, add bool) {
	caller, room, message, ok := s.messageRequest(c)
	if !ok || !s.bind(c, nil, false) {
		return
	}
	s.noContent(c, s.React(c.Request.Context(), caller, room, message, c.Param("emoji"), add))
}

// messageRequest is roomRequest for a route that names a message too.
func (s *Service) messageRequest(c *gin.Context) (Caller, schemas.ID, schemas.ID, bool) {
	caller, room, ok := s.roomRequest(c)
	if !ok {
		return Caller{}, 0, 0, false
	}
	if c.Param("message_id") == "export" && c.Param("emoji") == "" {
		// GET …/messages/export is the query service's; on the message
		// routes its path would read as a message id.
		c.Header("Allow", http.MethodGet)
		s.fail(c, schemas.Errorf(httperr.CodeMethodNotAllowed, "method not allowed"))
		return Caller{}, 0, 0, false
	}
	message, err := schemas.ParseID(c.Param("message_id"))
	if err != nil {
		s.fail(c, badRequest("message id must be a decimal id"))
		return Caller{}, 0, 0, false
	}
	return caller, room, message, true
}

// noContent answers 204, or the error.
func (s *Service) noContent(c *gin.Context, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	writePosition(c)
	c.Status(http.StatusNoContent)
}

func (s *Service) postRead(c *gin.Context) {
	var in struct {
		UpTo schemas.ID `json:"up_to"`
	}
	caller, room, ok := s.roomRequest(c)
	if !ok || !s.bind(c, &in, true) {
		return
	}
	err := s.MoveReadMark(c.Request.Context(), caller, room, in.UpTo)
	s.respond(c, http.StatusOK, struct {
		RoomID schemas.ID `json:"room_id"`
		UpTo   schemas.ID `json:"up_to"`
	}{room, in.UpTo}, err)
}

// roomRequest authenticates the caller (required) and parses the room id.
func (s *Service) roomRequest(c *gin.Context) (Caller, schemas.ID, bool) {
	caller, ok := s.authenticate(c, true)
	if !ok {
		return Caller{}, 0, false
	}
	room, err := schemas.ParseID(c.Param("id"))
	if err != nil {
		s.fail(c, badRequest("room id must be a decimal id"))
		return Caller{}, 0, false
	}
	return caller, room, true
}

// authenticate reads the bearer: the admin token, or a user token.
func (s *Service) authenticate(c *gin.Context, required bool) (Caller, bool) {
	h := c.GetHeader("Authorization")
	if h == "" {
		if required {
			s.fail(c, schemas.Errorf(schemas.CodeUnauthorized, "missing bearer token"))
			return Caller{}, false
		}
		return Caller{}, true
	}
	tok, ok := token.FromHeader(h)
	if !ok {
		s.fail(c, schemas.Errorf(schemas.CodeUnauthorized, "authorization must be a bearer token"))
		return Caller{}, false
	}
	if s.adminToken.Matches(tok) {
		return Caller{Admin: true, Token: tok}, true
	}
	claims, err := s.cfg.Keys.Verify(tok)
	if err != nil {
		s.fail(c, token.Refusal(err))
		return Caller{}, false
	}
	return Caller{UserID: claims.UserID, Nickname: claims.Nickname, Token: tok}, true
}

// bind reads the body (capped) and decodes it strictly into v
// (clientjson.Body). A nil v accepts an empty body or an empty JSON object.
// Refusals name the field and the rule, never the Go types the decoder's
// own message would.
func (s *Service) bind(c *gin.Context, v any, required bool) bool {
	if err := clientjson.Body(c.Writer, c.Request, maxBodyBytes, v, required); err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

func (s *Service) respond(c *gin.Context, status int, v any, err error) {
	if err != nil {
		s.fail(c, err)
		return
	}
	b, err := schemas.Marshal(v)
	if err != nil {
		s.fail(c, err)
		return
	}
	writePosition(c)
	c.Data(status, "application/json; charset=utf-8", b)
}

// fail renders err as the contract's error envelope and ends the chain.
// Internal errors are logged, never shown.
func (s *Service) fail(c *gin.Context, err error) {
	e := schemas.AsError(err)
	if e.Code == schemas.CodeInternal {
		s.log.Error("internal error", "path", c.FullPath(), "err", err)
	}
	httperr.Write(c.Writer, e)
	c.Abort()
}
