package schemas

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestCodeStatus(t *testing.T) {
	cases := map[Code]int{
		CodeBadRequest:           http.StatusBadRequest,
		CodeUnauthorized:         http.StatusUnauthorized,
		CodeForbidden:            http.StatusForbidden,
		CodeBlocked:              http.StatusForbidden,
		CodeNotFound:             http.StatusNotFound,
		CodeRoomFull:             http.StatusConflict,
		CodeConflict:             http.StatusConflict,
		CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
		CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
		CodeRateLimited:          http.StatusTooManyRequests,
		CodeUnavailable:          http.StatusServiceUnavailable,
		CodeInternal:             http.StatusInternalServerError,
		CodeBanned:               http.StatusForbidden,
		CodeRoomClosed:           http.StatusConflict,
		Code("made_up"):          http.StatusInternalServerError,
	}
	for code, want := range cases {
		if got := code.Status(); got != want {
			t.Errorf("%s.Status() = %d, want %d", code, got, want)
		}
	}
}

func TestAsError(t *testing.T) {
	full := Errorf(CodeRoomFull, "room is full")
	if got := AsError(fmt.Errorf("join: %w", full)); got != full {
		t.Errorf("AsError(wrapped) = %v, want the *Error inside", got)
	}
	got := AsError(errors.New("pg: connection refused"))
	if got.Code != CodeInternal || got.Message != "internal error" {
		t.Errorf("AsError(plain) = %+v, want a generic internal error", got)
	}
	b, err := Marshal(ErrorBody{Error: full})
	if err != nil || string(b) != `{"error":{"code":"room_full","message":"room is full"}}` {
		t.Errorf("ErrorBody = %s, %v", b, err)
	}
}
