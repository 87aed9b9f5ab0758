package command

import (
	"testing"

	"happychat/schemas"
)

// MoveReadMark's refusals, decided before anything is appended. The last
// case passes every check and stops at minting the event id: this service
// holds no node id lease (its feature level allows the event, so nothing
// else answers unavailable). The cluster is below level 5: at it the mark
// goes to the room's owner (read_mark_room_test.go).
func TestMoveReadMarkRefusals(t *testing.T) {
	const parts = 3
	tests := []struct {
		name     string
		running  bool
		caller   Caller
		room     schemas.ID
		upTo     schemas.ID
		wantCode schemas.Code
	}{
		{"the admin token has no read marks", true, Caller{Admin: true}, 100, 5, schemas.CodeForbidden},
		{"no message id", true, Caller{UserID: 1}, 100, 0, schemas.CodeBadRequest},
		{"a negative message id", true, Caller{UserID: 1}, 100, -5, schemas.CodeBadRequest},
		{"a room the fold has not seen", true, Caller{UserID: 1}, 999, 5, schemas.CodeNotFound},
		{"a room with events but no creation", true, Caller{UserID: 1}, 101, 5, schemas.CodeNotFound},
		{"a service still starting knows no room", false, Caller{UserID: 1}, 100, 5, schemas.CodeNotFound},
		{"a known room: on to minting the id", true, Caller{UserID: 1}, 100, 1, schemas.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{fold: newFold(parts), partitions: parts, running: make(chan struct{})}
			s.level.Store(readMarkRoomLevel - 1) // the users-topic path
			if tt.running {
				close(s.running)
			}
			s.fold.parts[s.partitionOf(100)].rooms[100] = &room{id: 100, status: schemas.RoomStatusOpen}
			s.fold.parts[s.partitionOf(101)].rooms[101] = newRoom(101)
			err := s.MoveReadMark(t.Context(), tt.caller, tt.room, tt.upTo)
			if code(err) != tt.wantCode {
				t.Fatalf("err %v, want code %q", err, tt.wantCode)
			}
		})
	}
}
