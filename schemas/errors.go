package schemas

import (
	"errors"
	"net/http"
	"time"
)

// Code is a wire error code of the API contract.
type Code string

// The contract's error codes.
const (
	CodeBadRequest           Code = "bad_request"
	CodeUnauthorized         Code = "unauthorized"
	CodeForbidden            Code = "forbidden"
	CodeNotFound             Code = "not_found"
	CodeRoomFull             Code = "room_full"
	CodeConflict             Code = "conflict"
	CodePayloadTooLarge      Code = "payload_too_large"
	CodeUnsupportedMediaType Code = "unsupported_media_type"
	CodeRateLimited          Code = "rate_limited"
	CodeUnavailable          Code = "unavailable"
	CodeInternal             Code = "internal"
	// CodeBanned (403): the caller is banned from the room (member.banned)
	// and may not join it, accept its invites or be added to it.
	CodeBanned Code = "banned"
	// CodeRoomClosed (409): an admin closed the room (room.closed): nobody
	// joins it or posts in it any more.
	CodeRoomClosed Code = "room_closed"
	// CodeBlocked refuses a direct message between two users one of whom
	// blocked the other (403, feature level 5).
	CodeBlocked Code = "blocked"
)

// Status maps a code to its HTTP status: the one place where that happens.
func (c Code) Status() int {
	switch c {
	case CodeBadRequest:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden, CodeBanned, CodeBlocked:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeRoomFull, CodeConflict, CodeRoomClosed:
		return http.StatusConflict
	case CodePayloadTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error is an error a client may see: a code and a human message. Services
// return it (possibly wrapped); the HTTP layer renders it as the envelope
// {"error": {"code", "message"}}. Any other error is internal: logged, and
// shown to the client only as "internal".
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// RetryAfter is set with CodeRateLimited (and may be with CodeUnavailable).
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(code Code, msg string) *Error { return &Error{Code: code, Message: msg} }

// ErrorBody is the wire envelope of an error.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// AsError returns the client-facing form of err: the *Error inside it, or an
// internal error with a generic message.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}
