package realtime

// WebSocket close codes this service sends. 1xxx are RFC 6455's; 4xxx are
// this service's own (documented in docs/realtime.md). After any of them a
// client may reconnect with since_seq = the last seq it saw and miss nothing;
// CloseTokenExpired and CloseTokenRevoked need a new token first,
// CloseNotMember a new join.
const (
	// CloseGoingAway: the server is shutting down.
	CloseGoingAway = 1001
	// CloseUnsupportedData: a binary frame (the protocol is JSON text).
	CloseUnsupportedData = 1003
	// CloseInvalidPayload: a text frame that is not valid UTF-8.
	CloseInvalidPayload = 1007
	// ClosePolicyViolation: frames kept coming far above the rate limit.
	ClosePolicyViolation = 1008
	// CloseTooBig: a frame above the read limit (CHAT_WS_MAX_FRAME_BYTES).
	CloseTooBig = 1009
	// CloseInternal: an unexpected server error.
	CloseInternal = 1011
	// CloseTryAgain: the resume could not complete (the log was unreachable
	// or did not reach the presence snapshot); reconnect with since_seq.
	CloseTryAgain = 1013
	// CloseTokenExpired: the token the socket was opened with expired.
	CloseTokenExpired = 4001
	// CloseTokenRevoked: the token the socket was opened with was revoked
	// (logout, DELETE /v1/sessions/current), here or on another instance.
	CloseTokenRevoked = 4004
	// CloseIdle: nothing (not even a pong) arrived within the idle timeout.
	CloseIdle = 4002
	// CloseNotMember: the user left the room (or joined another one).
	CloseNotMember = 4003
	// CloseRemoved: the room's owner or an admin removed or banned the
	// user (member.removed, member.banned; feature level 5). Unlike 4003 the
	// client does not rejoin: it tells its user they were removed.
	CloseRemoved = 4009
	// CloseSlowConsumer: the socket's send queue overflowed because the
	// client read too slowly; the room did not wait for it.
	CloseSlowConsumer = 4008
)
