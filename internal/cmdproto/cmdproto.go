// Package cmdproto is the command service's internal HTTP protocol, the
// routes under /internal/v1 that instances of the system call on each
// other:
//
//   - Forwarding. A room command that reaches a command instance which does
//     not own the room's partition is sent, as JSON, to POST CommandsPath on
//     the owner, found in the owners' group description (members advertise
//     their HTTP address in their client id). The owner executes it locally
//     only; if it no longer owns the partition (a rebalance in flight) it
//     answers StatusNotOwner and the sender refreshes its directory and
//     retries. The answer is a Reply.
//   - Presence. A split realtime service asks GET PresencePath for a room's
//     authoritative members before it admits a socket (Presence).
//
// Both are authenticated by SecretHeader: forwarding by Secret, presence by
// Secret or PresenceSecret (the realtime service's, which opens no other
// route), both derived from the token secret. A secret proves only that an
// instance of the system sent the request: a forwarded command carries its
// caller's own credential (the user's token, the admin token), which the
// owner verifies again and takes the caller's identity from. The command package serves the
// routes and forwards; Client is the realtime side, which cmd wires as
// realtime.Commands. This package imports schemas and msgkeys only
// (KeysHeader), never a role package: the forwarded command and its result are the command package's
// types, carried by Reply's type parameter.
package cmdproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"time"

	"happychat/schemas"
)

const (
	// CommandsPath takes a forwarded room command (POST, JSON); the answer
	// is a Reply.
	CommandsPath = "/internal/v1/commands"
	// PresenceRoute is the presence route in the router's pattern syntax;
	// PresencePath builds a request's path. The answer is a Presence.
	PresenceRoute = "/internal/v1/rooms/:id/presence"
	// SecretHeader carries Secret on every internal request.
	SecretHeader = "X-Happychat-Internal" //nolint:gosec // G101: the header's name, not a secret
	// StatusNotOwner answers a forwarded command at an instance that does
	// not own the room's partition (any more): a retry elsewhere is safe,
	// since the command was never decided.
	StatusNotOwner = http.StatusMisdirectedRequest
)

// PresencePath is the path of the presence request for room.
func PresencePath(room schemas.ID) string {
	return "/internal/v1/rooms/" + room.String() + "/presence"
}

// Secret derives the internal secret from the token secret, so that
// operators configure one secret and every instance agrees on both.
func Secret(tokenSecret string) string {
	m := hmac.New(sha256.New, []byte(tokenSecret))
	m.Write([]byte("happychat internal forwarding v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// PresenceSecret derives the realtime service's secret from the token
// secret: it opens the presence route and no other, so a realtime instance
// reports presence but cannot forward commands.
func PresenceSecret(tokenSecret string) string {
	m := hmac.New(sha256.New, []byte(tokenSecret))
	m.Write([]byte("happychat internal presence v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// SecretMatches compares a presented secret with the expected one by their
// SHA-256 digests, in constant time and without leaking either's length.
func SecretMatches(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Reply is the answer to a forwarded command: the owner's result R, or its
// error. Exactly one is set.
type Reply[R any] struct {
	Result *R             `json:"result,omitzero"`
	Error  *schemas.Error `json:"error,omitzero"`
}

// Presence is the answer of the presence route: the room's current members
// and the room's seq at that moment (the members reflect every event up to
// and including it).
type Presence struct {
	Members []schemas.Member `json:"members"`
	Seq     int64            `json:"seq"`
}

// NewHTTPClient returns the HTTP client of an internal hop. Its transport
// keeps up to idlePerHost idle connections to one instance (512 in all):
// Go's default of two per host made every concurrent request beyond the
// second open and close a TCP connection (measured: it more than doubled
// the send latency at 1 000 sends/s).
func NewHTTPClient(idlePerHost int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = idlePerHost
	return &http.Client{Timeout: 15 * time.Second, Transport: t}
}
