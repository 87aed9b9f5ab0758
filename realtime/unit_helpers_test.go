package realtime

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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

func issue(t testing.TB, k *token.Keys, user schemas.ID, nick string) string {
	t.Helper()
	tok, _, err := k.Issue(user, nick)
	if err != nil {
		t.Fatal(err)
	}
	return tok
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

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}
