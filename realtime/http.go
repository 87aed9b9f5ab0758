package realtime

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/httperr"
	"happychat/schemas"
	"happychat/schemas/token"
)

// serveWS is GET /v1/ws?room=<id>&token=<token>[&since_seq=<seq>]. Every
// check happens before the upgrade, answered with the contract's error
// envelope: the per-address limit (429), origin (403), token (401),
// parameters (400), per-user limits (429), the room (404) and membership
// (403). The query string is never
// logged: it carries the token.
func (s *Service) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.refuse(w, schemas.Errorf(httperr.CodeMethodNotAllowed, "method not allowed"))
		return
	}
	if e := s.users.handshakes.Check(r); e != nil {
		s.refuse(w, e)
		return
	}
	if err := s.Ready(r.Context()); err != nil {
		s.refuse(w, &schemas.Error{Code: schemas.CodeUnavailable, Message: "realtime is starting", RetryAfter: time.Second})
		return
	}
	if !originAllowed(r, s.cfg.AllowedOrigins) {
		s.refuse(w, schemas.Errorf(schemas.CodeForbidden, "origin not allowed"))
		return
	}
	q := r.URL.Query()
	tok := q.Get("token")
	if tok == "" {
		tok, _ = token.FromHeader(r.Header.Get("Authorization"))
	}
	claims, err := s.cfg.Keys.Verify(tok)
	if err != nil {
		s.refuse(w, token.Refusal(err))
		return
	}
	room, err := schemas.ParseID(q.Get("room"))
	if err != nil {
		s.refuse(w, schemas.Errorf(schemas.CodeBadRequest, "room: "+err.Error()))
		return
	}
	if berr := s.roomBlocked(room); berr != nil {
		s.refuse(w, berr)
		return
	}
	since, hasSince, perr := parseSince(q)
	if perr != nil {
		s.refuse(w, perr)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		s.refuse(w, schemas.Errorf(schemas.CodeBadRequest, "a WebSocket upgrade is required"))
		return
	}
	user, lerr := s.users.admit(claims.UserID, time.Now())
	if lerr != nil {
		s.refuse(w, lerr)
		return
	}
	// Interest first, snapshot second: see hub.step. Until the socket is
	// handed to its own goroutine, this handler gives both back.
	s.hub.acquire(room)
	handedOff := false
	defer func() {
		if !handedOff {
			s.hub.release(room, nil)
			s.users.leave(claims.UserID, time.Now())
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.HandshakeTimeout)
	members, snap, err := s.cfg.Commands.Presence(ctx, room)
	cancel()
	if err != nil {
		if schemas.AsError(err).Code == schemas.CodeInternal {
			s.log.Error("realtime: presence", "room", room, "err", err)
			err = schemas.Errorf(schemas.CodeUnavailable, "room state unavailable")
		}
		s.refuse(w, err)
		return
	}
	if !isMember(members, claims.UserID) {
		s.refuse(w, schemas.Errorf(schemas.CodeForbidden, "only members of the room may subscribe"))
		return
	}
	from := snap
	if hasSince {
		// A since_seq beyond the snapshot cannot have been seen (the
		// snapshot is authoritative): treat it as the snapshot, so a
		// client holding a seq from a reset log still gets live events.
		from = min(since, snap)
		s.m.backlog.Observe(float64(snap - from))
	}

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.m.refused.WithLabelValues("upgrade").Inc()
		return // the upgrader answered
	}
	s.m.accepted.Inc()
	if tc, ok := ws.NetConn().(*net.TCPConn); ok && s.cfg.SocketSendBuffer > 0 {
		_ = tc.SetWriteBuffer(s.cfg.SocketSendBuffer)
	}
	// Cloned: tok may point into the request line, which the socket would
	// otherwise keep alive for its whole life.
	caller := Caller{UserID: claims.UserID, Nickname: strings.Clone(claims.Nickname), Token: strings.Clone(tok)}
	c := newConn(s, ws, room, caller, claims.Expires, snap, user)
	if !s.track(c) {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseGoingAway, "server shutting down"), time.Now().Add(closeGrace))
		_ = ws.Close()
		return
	}
	// Verified again now that the socket is tracked: a revocation that
	// arrived after the first check either is seen here, or its Revoke
	// runs after this point and finds the socket (revoke.go).
	if _, err := s.cfg.Keys.Verify(tok); err != nil {
		s.untrack(c)
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseTokenRevoked, "token revoked"), time.Now().Add(closeGrace))
		_ = ws.Close()
		return
	}
	// The socket lives on in a goroutine of its own, started with a small
	// stack, and this one ends: an idle socket should not keep the deep
	// stack of the HTTP server, the router and the handshake (see
	// docs/realtime.md, "Memory").
	presence := controlFrame(presenceFrame{Type: typePresence, RoomID: room, Members: members, Seq: snap})
	handedOff = true
	go func() { //nolint:contextcheck // the socket outlives its request: conn has a context of its own (newConn)
		defer s.users.leave(claims.UserID, time.Now())
		defer s.hub.release(room, c)
		defer s.untrack(c)
		c.serve(presence, from)
	}()
}

// parseSince reads since_seq: absent, or a non-negative integer.
func parseSince(q url.Values) (int64, bool, *schemas.Error) {
	if !q.Has("since_seq") {
		return 0, false, nil
	}
	v := q.Get("since_seq")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v != strconv.FormatInt(n, 10) {
		return 0, false, schemas.Errorf(schemas.CodeBadRequest, "since_seq must be a non-negative integer")
	}
	return n, true, nil
}

func isMember(members []schemas.Member, user schemas.ID) bool {
	for _, m := range members {
		if m.UserID == user {
			return true
		}
	}
	return false
}

// originAllowed is the exact allowlist check (case-insensitive, as origins
// are): a configured origin must equal the request's Origin; with none
// configured, the Origin's host must be the request's Host. A request
// without Origin does not come from a browser page and is allowed: the
// check exists to stop other sites' pages from riding a user's token.
func originAllowed(r *http.Request, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(allowed) == 0 {
		u, err := url.Parse(origin)
		return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true
		}
	}
	return false
}

// refuse answers a handshake with the error envelope and counts it.
func (s *Service) refuse(w http.ResponseWriter, err error) {
	e := schemas.AsError(err)
	s.m.refused.WithLabelValues(string(e.Code)).Inc()
	httperr.Write(w, e)
}

// codeForStatus names the error code of a status the upgrader chose.
func codeForStatus(status int) schemas.Code {
	switch status {
	case http.StatusForbidden:
		return schemas.CodeForbidden
	case http.StatusBadRequest:
		return schemas.CodeBadRequest
	default:
		if status >= 500 {
			return schemas.CodeInternal
		}
		return schemas.Code(strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_"))
	}
}
