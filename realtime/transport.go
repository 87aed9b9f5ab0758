package realtime

import (
	"io"
	"net"
	"time"

	"github.com/gorilla/websocket"
)

// transport is how a conn's frames reach its client: a WebSocket (GET
// /v1/ws) or a Server-Sent Events stream (GET /v1/rooms/{id}/events, sse.go).
// Everything else of a subscription — the queue and its bounds, the slow
// consumer's cut, the resume, the writer's order and duplicate check, the
// token's expiry and revocation — is the conn's and the same for both.
//
// The conn's writer is the only caller of appendFrame, write and
// writeClose; read runs on the goroutine that serves the conn; unblock and
// forceClose may be called from any goroutine (conn.fail).
type transport interface {
	// appendFrame appends f's bytes on this transport to bufs (nothing for
	// a frame the transport has no use for).
	appendFrame(bufs net.Buffers, f *frame) net.Buffers
	// write writes bufs by deadline.
	write(bufs net.Buffers, deadline time.Time) error
	// writeClose tells the client why the stream ends, by deadline.
	writeClose(code int, reason string, deadline time.Time)
	// read serves the client's side until the connection fails, then
	// returns (having called c.fail).
	read(c *conn)
	// unblock makes read return soon; forceClose ends a writer stuck on a
	// dead peer.
	unblock()
	forceClose()
	// finish ends the connection once the writer is done; code is the
	// close code sent (0: none).
	finish(code int)
}

// wsTransport is a WebSocket: frames go out as prepared WebSocket frames
// with one writev (wire.go), and the reader reads the client's frames.
type wsTransport struct{ ws *websocket.Conn }

func (t wsTransport) appendFrame(bufs net.Buffers, f *frame) net.Buffers {
	return append(bufs, f.wire)
}

func (t wsTransport) write(bufs net.Buffers, deadline time.Time) error {
	nc := t.ws.NetConn()
	_ = nc.SetWriteDeadline(deadline)
	v := bufs // WriteTo consumes its receiver; the caller's slice keeps the array
	_, err := v.WriteTo(nc)
	return err
}

func (t wsTransport) writeClose(code int, reason string, deadline time.Time) {
	_ = t.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
}

func (t wsTransport) read(c *conn) { c.readLoop(t.ws) }

func (t wsTransport) unblock() { _ = t.ws.NetConn().SetReadDeadline(time.Now().Add(closeGrace)) }

func (t wsTransport) forceClose() { _ = t.ws.NetConn().Close() }

// finish ends the TCP connection politely: half-close, then read whatever
// the client still sends (its close frame, the rest of a frame that was too
// big) so that closing does not reset the connection before the client has
// read our close frame.
func (t wsTransport) finish(code int) {
	nc := t.ws.NetConn()
	if tc, ok := nc.(*net.TCPConn); ok && code != 0 {
		_ = tc.CloseWrite()
		_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, 1<<20))
	}
	_ = nc.Close()
}
