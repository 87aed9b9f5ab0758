package realtime

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"happychat/schemas"
	"happychat/schemas/token"
)

// testRules is a stand-in for *moderation.Rules in tests: it softens
// "darn" and names "balloons" for "congrats".
type testRules struct{}

func (testRules) Soften(s string) string { return strings.ReplaceAll(s, "darn", "d**n") }
func (testRules) Effects(s string) []string {
	if strings.Contains(strings.ToLower(s), "congrats") {
		return []string{"balloons"}
	}
	return nil
}

const testSecret = "0123456789abcdef0123456789abcdef"

func testKeys(t testing.TB) *token.Keys {
	t.Helper()
	k, err := token.New(testSecret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// staticCommands answers Presence from a fixed table and refuses sends: a
// fake for the handshake's pure logic (integration tests use a command
// service that appends to real Kafka).
type staticCommands struct {
	mu      sync.Mutex
	members map[schemas.ID][]schemas.Member
	seq     int64
}

func (s *staticCommands) Send(context.Context, Caller, schemas.ID, string, string) (schemas.Message, error) {
	return schemas.Message{}, schemas.Errorf(schemas.CodeUnavailable, "no sends here")
}

func (s *staticCommands) Presence(_ context.Context, room schemas.ID) ([]schemas.Member, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[room]
	if !ok {
		return nil, 0, schemas.Errorf(schemas.CodeNotFound, "no such room")
	}
	return m, s.seq, nil
}
