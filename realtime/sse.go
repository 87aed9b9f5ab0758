package realtime

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"happychat/schemas"
)

// The fallback transport: Server-Sent Events, for networks that block
// WebSocket upgrades (docs/realtime.md, "Server-Sent Events"). A stream is
// a conn like a socket's, with the same admission, limits, queue, resume
// and order; only the bytes differ. Each frame is one SSE event named after
// its type, its JSON on one data line; a room event carries id: <seq>, so
// that a browser's automatic reconnect sends Last-Event-ID and resumes
// where it stopped. The keepalive is a comment line. Sends go over HTTP
// (POST /v1/rooms/{id}/messages), so a stream reads nothing from its client.

// serveEvents is GET /v1/rooms/{id}/events?token=<token>[&since_seq=<seq>],
// resuming after the Last-Event-ID header's seq when the request has one
// (a browser's reconnect: it takes precedence over since_seq, which the
// reconnect repeats from the first request). The refusals are the socket's,
// before the stream's headers, with the contract's error envelope.
func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request, roomParam string) {
	claims, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	room, err := schemas.ParseID(roomParam)
	if err != nil {
		s.refuse(w, schemas.Errorf(schemas.CodeBadRequest, "id: "+err.Error()))
		return
	}
	since, hasSince, perr := parseSince(r.URL.Query())
	if perr != nil {
		s.refuse(w, perr)
		return
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || v != strconv.FormatInt(n, 10) {
			s.refuse(w, schemas.Errorf(schemas.CodeBadRequest, "Last-Event-ID must be a non-negative integer (a room seq)"))
			return
		}
		since, hasSince = n, true
	}
	s.subscribe(w, r, subscription{room: room, since: since, hasSince: hasSince, claims: claims, tok: tok}, s.openSSE)
}

// openSSE answers 200 with the stream's headers and flushes them, so the
// client sees the stream open before the first event.
func (s *Service) openSSE(w http.ResponseWriter, r *http.Request) (transport, bool) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Proxies that buffer responses (nginx does by default) would hold the
	// events back; this asks them not to.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	if _, err := w.Write(sseRetry); err != nil {
		s.m.refused.WithLabelValues("upgrade").Inc()
		return nil, false
	}
	if err := rc.Flush(); err != nil {
		s.m.refused.WithLabelValues("upgrade").Inc()
		return nil, false
	}
	return &sseTransport{w: w, rc: rc, gone: r.Context()}, true
}

// sseRetry opens every stream: a browser that reconnects by itself waits a
// second first (its default is a few).
var sseRetry = []byte("retry: 1000\n\n")

// ssePing is the keepalive: a comment line, which clients ignore and
// proxies see as traffic.
var ssePing = []byte(": ping\n\n")

var sseEnd = []byte("\n\n")

// sseTransport writes a conn's frames as SSE events through its request's
// ResponseWriter. Only the conn's writer writes (queue.go); the handler's
// goroutine waits in read.
type sseTransport struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// gone ends when the client goes away (net/http watches the
	// connection while the handler runs).
	gone context.Context
}

func (t *sseTransport) appendFrame(bufs net.Buffers, f *frame) net.Buffers {
	switch {
	case f == pingFrame:
		return append(bufs, ssePing)
	case f.typ == "":
		return bufs // a WebSocket pong: nothing to answer on a stream
	case f.seq > 0:
		bufs = append(bufs, fmt.Appendf(nil, "id: %d\nevent: %s\ndata: ", f.seq, f.typ))
	default:
		bufs = append(bufs, fmt.Appendf(nil, "event: %s\ndata: ", f.typ))
	}
	// Frames are compact JSON: no raw newline can end the data line early.
	return append(bufs, f.data, sseEnd)
}

func (t *sseTransport) write(bufs net.Buffers, deadline time.Time) error {
	_ = t.rc.SetWriteDeadline(deadline)
	for _, b := range bufs {
		if _, err := t.w.Write(b); err != nil {
			return err
		}
	}
	return t.rc.Flush()
}

// closeEvent is the stream's last event when the server ends it: the close
// code and reason a socket would get (closecodes.go), so a client decides
// the same way whether to resume, renew its token or stop.
type closeEvent struct {
	Type   string `json:"type"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (t *sseTransport) writeClose(code int, reason string, deadline time.Time) {
	f := controlFrame(closeEvent{Type: "close", Code: code, Reason: reason})
	_ = t.write(t.appendFrame(nil, f), deadline)
}

// read waits for the client to go away or the conn to end: a stream's
// client sends nothing. A dead peer that never resets the connection shows
// as a write that times out, the keepalive's at the latest.
func (t *sseTransport) read(c *conn) {
	select {
	case <-t.gone.Done():
		c.fail(0, "", false)
	case <-c.done:
	}
}

func (t *sseTransport) unblock() {}

// forceClose fails the write in progress.
func (t *sseTransport) forceClose() { _ = t.rc.SetWriteDeadline(time.Now()) }

// finish has nothing to do: the handler returns and net/http ends the
// response.
func (t *sseTransport) finish(int) {}
