package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"happychat/internal/cmdproto"
)

// TestInternalListener (docs/hostile-inputs.md, "internal listener"): the
// internal protocol, /metrics and the profiles answer on each process's
// internal listener only; through the public one, even with the right
// secret, they are the contract's 404. Run on the dev mode (every service
// in one process) and on a split realtime instance, whose public listener
// falls back to the web client for unknown paths.
func TestInternalListener(t *testing.T) {
	s := startRealtimeDev(t, nil)
	room := s.openRoom("internal listener")
	s.member(room, "alice")
	split := s.startSplitRealtime(t)
	secret := cmdproto.Secret(s.env["CHAT_TOKEN_SECRET"])
	presence := cmdproto.PresenceSecret(s.env["CHAT_TOKEN_SECRET"])

	type probe struct {
		name, method, path, secret, body string
	}
	probes := []probe{
		{"forwarding", "POST", cmdproto.CommandsPath, secret, `{}`},
		{"presence", "GET", cmdproto.PresencePath(room), presence, ""},
		{"metrics", "GET", "/metrics", "", ""},
		{"profiles", "GET", "/debug/pprof/cmdline", "", ""},
	}
	do := func(t *testing.T, base string, p probe) (int, string) {
		t.Helper()
		req, err := http.NewRequest(p.method, base+p.path, strings.NewReader(p.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if p.secret != "" {
			req.Header.Set(cmdproto.SecretHeader, p.secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, base := range []string{s.base, split} {
		for _, p := range probes {
			t.Run("public "+p.name, func(t *testing.T) {
				st, body := do(t, base, p)
				if st != http.StatusNotFound || !strings.HasPrefix(body, `{"error":{"code":"not_found"`) {
					t.Fatalf("%s %s on the public listener: %d %.200s, want the 404 envelope", p.method, p.path, st, body)
				}
			})
		}
	}
	// Through the internal listener they work: a forwarded command is
	// judged (an empty one is a 400, not a 404), the owner reports the
	// room's members, /metrics and the profiles answer.
	want := map[string]struct {
		status int
		has    string
	}{
		"forwarding": {http.StatusBadRequest, `"code":"bad_request"`},
		"presence":   {http.StatusOK, `"nickname":"alice"`},
		"metrics":    {http.StatusOK, "happychat_"},
		"profiles":   {http.StatusOK, ""},
	}
	for _, p := range probes {
		t.Run("internal "+p.name, func(t *testing.T) {
			st, body := do(t, internalBase(s.base), p)
			if w := want[p.name]; st != w.status || !strings.Contains(body, w.has) {
				t.Fatalf("%s %s on the internal listener: %d %.300s, want %d with %q", p.method, p.path, st, body, w.status, w.has)
			}
		})
	}
	st, body := do(t, internalBase(split), probes[2])
	if st != http.StatusOK || !strings.Contains(body, "happychat_realtime_") {
		t.Fatalf("split realtime's internal /metrics: %d %.200s", st, body)
	}
}
