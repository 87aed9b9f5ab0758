// Package httperr renders the API contract's error envelope (API.md,
// "Conventions") on an HTTP response: the status of the error's code, a
// Retry-After header when the error names a wait, and the JSON body
// {"error": {"code", "message"}}. Every service's HTTP layer renders its
// errors here, so that a client sees one wire form whichever service
// answers. It works on a plain http.ResponseWriter: net/http handlers pass
// theirs, gin handlers pass c.Writer (and abort the chain themselves).
//
// It imports schemas only, never a role package.
package httperr

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"happychat/schemas"
)

// CodeMethodNotAllowed answers a request whose method the route does not
// take (405). It is not among the contract's codes in schemas, which name the
// outcomes of well-formed calls; routers produce it.
const CodeMethodNotAllowed schemas.Code = "method_not_allowed"

// contentType is the contract's type for every JSON body.
const contentType = "application/json; charset=utf-8"

// Write renders e as the error envelope on w, with the status of its code.
// When e.RetryAfter is set, a Retry-After header gives it in whole seconds,
// rounded up: a client that waited the rounded-down time would come back too
// early and be refused again.
//
// A code or message that is not valid UTF-8 cannot be encoded as JSON; it is
// sent with each invalid byte replaced by U+FFFD rather than as a broken
// envelope. (Callers build messages from constants or sanitise what they
// quote, so this is a safety net.)
func Write(w http.ResponseWriter, e *schemas.Error) {
	body, err := schemas.Marshal(schemas.ErrorBody{Error: e})
	if err != nil {
		// Two valid strings always encode.
		body, _ = schemas.Marshal(schemas.ErrorBody{Error: &schemas.Error{
			Code:    schemas.Code(strings.ToValidUTF8(string(e.Code), "\uFFFD")),
			Message: strings.ToValidUTF8(e.Message, "\uFFFD"),
		}})
	}
	h := w.Header()
	if e.RetryAfter > 0 {
		h.Set("Retry-After", retryAfter(e.RetryAfter))
	}
	h.Set("Content-Type", contentType)
	w.WriteHeader(status(e.Code))
	_, _ = w.Write(body) // a failed write means the client is gone: nothing to tell it
}

// status is the HTTP status of code: the contract's mapping
// (schemas.Code.Status), plus the routers' 405.
func status(code schemas.Code) int {
	if code == CodeMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	return code.Status()
}

// retryAfter formats d for the Retry-After header: delta-seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}
