package httperr

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"happychat/schemas"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		err        *schemas.Error
		status     int
		body       string
		retryAfter string // "" means no header
	}{
		{
			name:   "bad request",
			err:    schemas.Errorf(schemas.CodeBadRequest, "room id must be a decimal id"),
			status: http.StatusBadRequest,
			body:   `{"error":{"code":"bad_request","message":"room id must be a decimal id"}}`,
		},
		{
			name:   "room full is a conflict",
			err:    schemas.Errorf(schemas.CodeRoomFull, "the room is full"),
			status: http.StatusConflict,
			body:   `{"error":{"code":"room_full","message":"the room is full"}}`,
		},
		{
			name:   "internal",
			err:    schemas.AsError(errors.New("connection refused")),
			status: http.StatusInternalServerError,
			body:   `{"error":{"code":"internal","message":"internal error"}}`,
		},
		{
			name:   "method not allowed is 405",
			err:    schemas.Errorf(CodeMethodNotAllowed, "method not allowed"),
			status: http.StatusMethodNotAllowed,
			body:   `{"error":{"code":"method_not_allowed","message":"method not allowed"}}`,
		},
		{
			name:   "an unknown code is a 500",
			err:    schemas.Errorf("upgrade_required", "x"),
			status: http.StatusInternalServerError,
			body:   `{"error":{"code":"upgrade_required","message":"x"}}`,
		},
		{
			name:       "retry after rounds up",
			err:        &schemas.Error{Code: schemas.CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond},
			status:     http.StatusTooManyRequests,
			body:       `{"error":{"code":"rate_limited","message":"slow down"}}`,
			retryAfter: "2",
		},
		{
			name:       "retry after of a nanosecond is a second",
			err:        &schemas.Error{Code: schemas.CodeRateLimited, Message: "m", RetryAfter: time.Nanosecond},
			status:     http.StatusTooManyRequests,
			body:       `{"error":{"code":"rate_limited","message":"m"}}`,
			retryAfter: "1",
		},
		{
			name:       "whole seconds stay",
			err:        &schemas.Error{Code: schemas.CodeUnavailable, Message: "m", RetryAfter: 5 * time.Second},
			status:     http.StatusServiceUnavailable,
			body:       `{"error":{"code":"unavailable","message":"m"}}`,
			retryAfter: "5",
		},
		{
			name:   "the wait is never in the body",
			err:    &schemas.Error{Code: schemas.CodeUnavailable, Message: "m"},
			status: http.StatusServiceUnavailable,
			body:   `{"error":{"code":"unavailable","message":"m"}}`,
		},
		{
			name:   "JSON is escaped",
			err:    schemas.Errorf(schemas.CodeBadRequest, `unknown parameter "<x>"`),
			status: http.StatusBadRequest,
			body:   `{"error":{"code":"bad_request","message":"unknown parameter \"<x>\""}}`,
		},
		{
			name:   "invalid UTF-8 is repaired, the status kept",
			err:    schemas.Errorf(schemas.CodeBadRequest, "a\xffb"),
			status: http.StatusBadRequest,
			body:   `{"error":{"code":"bad_request","message":"a` + "\uFFFD" + `b"}}`,
		},
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
