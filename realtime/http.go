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
	claims, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	room, err := schemas.ParseID(q.Get("room"))
	if err != nil {
		s.refuse(w, schemas.Errorf(schemas.CodeBadRequest, "room: "+err.Error()))
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
	s.subscribe(w, r, subscription{room: room, since: since, hasSince: hasSince, claims: claims, tok: tok}, s.openWS)
}

// authorize runs the checks every subscription starts with, whatever its
// transport: the method, the per-address limit, readiness, the origin and
// the token (from ?token= or the Authorization header). False: refused.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request) (token.Claims, string, bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.refuse(w, schemas.Errorf(httperr.CodeMethodNotAllowed, "method not allowed"))
		return token.Claims{}, "", false
	}
	if e := s.users.handshakes.Check(r); e != nil {
		s.refuse(w, e)
		return token.Claims{}, "", false
	}
	if err := s.Ready(r.Context()); err != nil {
		s.refuse(w, &schemas.Error{Code: schemas.CodeUnavailable, Message: "realtime is starting", RetryAfter: time.Second})
		return token.Claims{}, "", false
	}
	if !originAllowed(r, s.cfg.AllowedOrigins) {
		s.refuse(w, schemas.Errorf(schemas.CodeForbidden, "origin not allowed"))
		return token.Claims{}, "", false
	}
	tok := r.URL.Query().Get("token")
	if tok == "" {
		tok, _ = token.FromHeader(r.Header.Get("Authorization"))
	}
	claims, err := s.cfg.Keys.Verify(tok)
	if err != nil {
		s.refuse(w, token.Refusal(err))
		return token.Claims{}, "", false
	}
	return claims, tok, true
}

// subscription is a request to follow a room, checked as far as its
// transport's parameters go.
type subscription struct {
	room     schemas.ID
	since    int64
	hasSince bool
	claims   token.Claims
	tok      string
}

// subscribe admits a subscription and serves it, whatever its transport:
// the room's state, the per-user limits, the presence snapshot and
// membership, then open (the upgrade, or the stream's headers), then the
// conn. A WebSocket lives on in a goroutine of its own; an SSE stream is
// written through its request's ResponseWriter, so it is served here.
func (s *Service) subscribe(w http.ResponseWriter, r *http.Request, sub subscription, open func(http.ResponseWriter, *http.Request) (transport, bool)) {
	room, claims, tok := sub.room, sub.claims, sub.tok
	if berr := s.roomBlocked(room); berr != nil {
		s.refuse(w, berr)
		return
	}
	user, lerr := s.users.admit(claims.UserID, time.Now())
	if lerr != nil {
		s.refuse(w, lerr)
		return
	}
	// Interest first, snapshot second: see hub.step. Until the conn is
	// served, this handler gives both back.
	s.hub.acquire(room)
	handedOff := false
	defer func() {
		if !handedOff {
			s.hub.release(room, nil)
			s.users.leave(claims.UserID, time.Now())
		}
	}()
	members, snap, err := s.presence(r.Context(), room)
	if err != nil {
		s.refuse(w, err)
		return
	}
	if !isMember(members, claims.UserID) {
		s.refuse(w, schemas.Errorf(schemas.CodeForbidden, "only members of the room may subscribe"))
		return
	}
	from := snap
	if sub.hasSince {
		// A since_seq beyond the snapshot cannot have been seen (the
		// snapshot is authoritative): treat it as the snapshot, so a
		// client holding a seq from a reset log still gets live events.
		from = min(sub.since, snap)
		s.m.backlog.Observe(float64(snap - from))
	}

	t, ok := open(w, r)
	if !ok {
		return // open answered
	}
	s.m.accepted.Inc()
	// Cloned: tok may point into the request line, which the conn would
	// otherwise keep alive for its whole life.
	caller := Caller{UserID: claims.UserID, Nickname: strings.Clone(claims.Nickname), Token: strings.Clone(tok)}
	c := newConn(s, t, room, caller, claims.Expires, snap, user)
	if !s.track(c) {
		t.writeClose(CloseGoingAway, "server shutting down", time.Now().Add(closeGrace))
		t.finish(0)
		return
	}
	// Verified again now that the conn is tracked: a revocation that
	// arrived after the first check either is seen here, or its Revoke
	// runs after this point and finds the conn (revoke.go).
	if _, err := s.cfg.Keys.Verify(tok); err != nil {
		s.untrack(c)
		t.writeClose(CloseTokenRevoked, "token revoked", time.Now().Add(closeGrace))
		t.finish(0)
		return
	}
	presence := controlFrame(presenceFrame{Type: typePresence, RoomID: room, Members: members, Seq: snap})
	handedOff = true
	serve := func() {
		defer s.users.leave(claims.UserID, time.Now())
		defer s.hub.release(room, c)
		defer s.untrack(c)
		c.serve(presence, from)
	}
	if _, ws := t.(wsTransport); !ws {
		serve()
		return
	}
	// The socket lives on in a goroutine of its own, started with a small
	// stack, and this one ends: an idle socket should not keep the deep
	// stack of the HTTP server, the router and the handshake (see
	// docs/realtime.md, "Memory").
	go serve() //nolint:contextcheck // the socket outlives its request: conn has a context of its own (newConn)
}

// presence asks the command service for room's members and seq, within
// the handshake's time; an infrastructure error is the client's 503.
func (s *Service) presence(ctx context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	members, snap, err := s.cfg.Commands.Presence(ctx, room)
	if err != nil && schemas.AsError(err).Code == schemas.CodeInternal {
		s.log.Error("realtime: presence", "room", room, "err", err)
		return nil, 0, schemas.Errorf(schemas.CodeUnavailable, "room state unavailable")
	}
	return members, snap, err
}

// openWS upgrades the connection (the upgrader answers a failure).
func (s *Service) openWS(w http.ResponseWriter, r *http.Request) (transport, bool) {
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.m.refused.WithLabelValues("upgrade").Inc()
		return nil, false
	}
	if tc, ok := ws.NetConn().(*net.TCPConn); ok && s.cfg.SocketSendBuffer > 0 {
		_ = tc.SetWriteBuffer(s.cfg.SocketSendBuffer)
	}
	return wsTransport{ws: ws}, true
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
