package config

import (
	"net/netip"
	"strings"
	"testing"

	"happychat/internal/ratelimit"
)

func TestLoadLimits(t *testing.T) {
	c, err := Load(func(k string) string {
		return map[string]string{
			"CHAT_TRUSTED_PROXIES":      "10.0.0.0/8, 2001:db8::1",
			"CHAT_TRUSTED_PROXY_HEADER": "Forwarded",
			"CHAT_RATE_LIMIT_EXEMPT":    "127.0.0.1,::1",
			"CHAT_SESSION_RATE":         "0.5", "CHAT_SESSION_BURST": "3",
			"CHAT_SESSIONS_PER_MINUTE": "42",
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Limits
	a := l.Addresses()
	if len(a.Trusted) != 2 || a.Trusted[1] != netip.MustParsePrefix("2001:db8::1/128") || a.Header != ratelimit.Forwarded {
		t.Fatalf("trusted proxies: %+v", a)
	}
	if !a.Exempted(netip.MustParseAddr("::1")) || a.Exempted(netip.MustParseAddr("127.0.0.2")) {
		t.Fatalf("allowlist: %v", a.Exempt)
	}
	if l.Sessions != (ratelimit.Rate{PerSecond: 0.5, Burst: 3}) || l.SessionsPerMinute != 42 {
		t.Fatalf("sessions: %+v, %d", l.Sessions, l.SessionsPerMinute)
	}
	// Every limit is on by default.
	d, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []ratelimit.Rate{d.Limits.PerAddress, d.Limits.Sessions, d.Limits.Proposals, d.Limits.Leaves,
		d.Limits.ReadMarks, d.Limits.RoomChurn, d.Limits.Reads, d.Limits.HeavyReads, d.Limits.Handshakes} {
		if r.Off() {
			t.Fatalf("a default limit is off: %+v", d.Limits)
		}
	}
	if len(d.Limits.TrustedProxies) != 0 || len(d.Limits.Exempt) != 0 {
		t.Fatal("proxies trusted or addresses exempt by default")
	}

	for env, want := range map[string]string{
		"CHAT_TRUSTED_PROXIES=proxy.example":  "CHAT_TRUSTED_PROXIES",
		"CHAT_RATE_LIMIT_EXEMPT=10.0.0.0/40":  "CHAT_RATE_LIMIT_EXEMPT",
		"CHAT_TRUSTED_PROXY_HEADER=x-real-ip": "CHAT_TRUSTED_PROXY_HEADER",
		"CHAT_SESSION_BURST=0":                "CHAT_SESSION_BURST",
		"CHAT_HEAVY_READ_RATE=-1":             "CHAT_HEAVY_READ_RATE",
		"CHAT_SESSIONS_PER_MINUTE=0":          "CHAT_SESSIONS_PER_MINUTE",
		"CHAT_WS_HANDSHAKE_RATE=fast":         "CHAT_WS_HANDSHAKE_RATE",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := Load(func(key string) string {
			if key == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to name %s", env, err, want)
		}
	}
}
