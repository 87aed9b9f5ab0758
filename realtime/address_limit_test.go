package realtime

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"happychat/internal/ratelimit"
	"happychat/internal/tokentest"
	"happychat/schemas"
)

// A flood of handshakes from one client address is refused with 429 and
// Retry-After before the upgrade, however many users' tokens it holds;
// another address is served, and so is the operator's allowlist. The test
// client is the trusted proxy and names the address in X-Forwarded-For.
// The rate is so slow (a token in 1,000 s) that the counts are exact.
func TestHandshakeAddressFlood(t *testing.T) {
	keys := testKeys(t)
	const room = schemas.ID(42)
	var members []schemas.Member
	for u := range schemas.ID(30) {
		members = append(members, schemas.Member{UserID: u + 1, Nickname: "m"})
	}
	cmds := &staticCommands{seq: 3, members: map[schemas.ID][]schemas.Member{room: members}}
	const burst = 4
	srv := handshakeService(t, cmds, func(c *Config) {
		c.MaxConnsPerUser = 100
		c.Addresses = ratelimit.Addresses{
			Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Exempt:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		}
		c.HandshakesPerAddress = ratelimit.Rate{PerSecond: 0.001, Burst: burst}
	})
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws?room=42&token="
	dial := func(addr string, user schemas.ID) int {
		t.Helper()
		h := http.Header{}
		if addr != "" {
			h.Set("X-Forwarded-For", addr)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(wsURL+tokentest.Issue(t, keys, user, "m"), h)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		return resp.StatusCode
	}
	got := map[int]int{}
	for i := range 12 {
		got[dial("2001:db8:5:5::"+string(rune('a'+i%6)), schemas.ID(i+1))]++ // one /64, many users
	}
	if got[http.StatusSwitchingProtocols] != burst || got[http.StatusTooManyRequests] != 12-burst {
		t.Fatalf("one address: %v, want %d upgrades and the rest 429", got, burst)
	}
	if st := dial("2001:db8:5:6::1", 20); st != http.StatusSwitchingProtocols {
		t.Fatalf("another /64: %d, want upgraded", st)
	}
	for i := range 10 {
		if st := dial("", schemas.ID(21+i%5)); st != http.StatusSwitchingProtocols {
			t.Fatalf("allowlisted handshake %d: %d", i, st)
		}
	}
}
