package httperr

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"happychat/schemas"
)

func TestWrite(t *testing.T) {
	// Every body is the envelope exactly: the wait goes in the header only.
	tests := []struct {
		name       string
		err        *schemas.Error
		status     int
		body       string
		retryAfter string // "" means no header
	}{
		{"bad request", schemas.Errorf(schemas.CodeBadRequest, "room id must be a decimal id"),
			400, `{"error":{"code":"bad_request","message":"room id must be a decimal id"}}`, ""},
		{"room full is a conflict", schemas.Errorf(schemas.CodeRoomFull, "the room is full"),
			409, `{"error":{"code":"room_full","message":"the room is full"}}`, ""},
		{"internal", schemas.AsError(errors.New("connection refused")),
			500, `{"error":{"code":"internal","message":"internal error"}}`, ""},
		{"method not allowed is 405", schemas.Errorf(CodeMethodNotAllowed, "method not allowed"),
			405, `{"error":{"code":"method_not_allowed","message":"method not allowed"}}`, ""},
		{"an unknown code is a 500", schemas.Errorf("upgrade_required", "x"),
			500, `{"error":{"code":"upgrade_required","message":"x"}}`, ""},
		{"retry after rounds up", &schemas.Error{Code: schemas.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond},
			429, `{"error":{"code":"rate_limited","message":"slow down"}}`, "2"},
		{"retry after of a nanosecond is a second", &schemas.Error{Code: schemas.CodeRateLimited, Message: "m", RetryAfter: time.Nanosecond},
			429, `{"error":{"code":"rate_limited","message":"m"}}`, "1"},
		{"whole seconds stay", &schemas.Error{Code: schemas.CodeUnavailable, Message: "m", RetryAfter: 5 * time.Second},
			503, `{"error":{"code":"unavailable","message":"m"}}`, "5"},
		{"no wait, no header", schemas.Errorf(schemas.CodeUnavailable, "m"),
			503, `{"error":{"code":"unavailable","message":"m"}}`, ""},
		{"JSON is escaped", schemas.Errorf(schemas.CodeBadRequest, `unknown parameter "<x>"`),
			400, `{"error":{"code":"bad_request","message":"unknown parameter \"<x>\""}}`, ""},
		{"invalid UTF-8 is repaired, the status kept", schemas.Errorf(schemas.CodeBadRequest, "a\xffb"),
			400, `{"error":{"code":"bad_request","message":"a` + "\uFFFD" + `b"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Write(w, tt.err)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("body %s, want %s", got, tt.body)
			}
			if !utf8.Valid(w.Body.Bytes()) {
				t.Errorf("body is not valid UTF-8")
			}
			if got := w.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			got, ok := w.Header()["Retry-After"]
			switch {
			case tt.retryAfter == "" && ok:
				t.Errorf("Retry-After %q, want none", got)
			case tt.retryAfter != "" && w.Header().Get("Retry-After") != tt.retryAfter:
				t.Errorf("Retry-After %q, want %q", w.Header().Get("Retry-After"), tt.retryAfter)
			}
		})
	}
}
