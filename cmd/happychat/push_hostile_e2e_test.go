package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"happychat/schemas"
)

// TestPushRoutesHostile sends the push routes what they must refuse, on
// happychat dev against the real PostgreSQL: each refusal is the contract's
// envelope naming the field and the rule, and none stores anything (the
// user can still store exactly CHAT_PUSH_MAX_SUBSCRIPTIONS afterwards, and
// one more is refused).
func TestPushRoutesHostile(t *testing.T) {
	s := startRealtimeDev(t, map[string]string{"CHAT_PUSH_MAX_SUBSCRIPTIONS": "3", "CHAT_PUSH_RATE": "0.01", "CHAT_PUSH_BURST": "40"})
	u := s.session("hostile")
	ps := newPushService(t, vapidKeyOf(t, s.devSystem))
	_, good := ps.subscribe("good", 201)
	keys := good["keys"].(map[string]string)
	sub := func(endpoint, p256dh, auth string) map[string]any {
		return map[string]any{"endpoint": endpoint, "keys": map[string]string{"p256dh": p256dh, "auth": auth}}
	}
	for _, tc := range []struct {
		name string
		body any
		want string // in the refusal's message
	}{
		{"http endpoint", sub("http://push.example/x", keys["p256dh"], keys["auth"]), `"endpoint" must be an https URL`},
		{"loopback endpoint (CHAT_PUSH_ALLOW_LOOPBACK unset)", sub(ps.srv.URL+"/push/x", keys["p256dh"], keys["auth"]), `"endpoint" must not be a loopback`},
		{"private address", sub("https://192.168.1.10/push", keys["p256dh"], keys["auth"]), "private or reserved"},
		{"cloud metadata address", sub("https://169.254.169.254/latest/meta-data", keys["p256dh"], keys["auth"]), "private or reserved"},
		{"javascript: URL", sub("javascript:alert(1)", keys["p256dh"], keys["auth"]), `"endpoint" must be an absolute https URL`},
		{"endpoint of 3 000 bytes", sub("https://push.example/"+strings.Repeat("a", 3000), keys["p256dh"], keys["auth"]), "at most 2048 bytes"},
		{"oversized p256dh", sub("https://push.example/x", strings.Repeat("A", 4000), keys["auth"]), `"keys.p256dh" must be 65 bytes`},
		{"p256dh not on the curve", sub("https://push.example/x", "BA"+strings.Repeat("A", 85), keys["auth"]), "P-256 curve"},
		{"auth of 32 bytes", sub("https://push.example/x", keys["p256dh"], strings.Repeat("A", 43)), `"keys.auth" must be 16 bytes`},
		{"no keys", map[string]any{"endpoint": "https://push.example/x"}, `"keys.p256dh" is required`},
		{"unknown field", map[string]any{"endpoint": "https://push.example/x", "keys": keys, "owner": "1"}, `unknown field "owner"`},
		{"keys as a string", map[string]any{"endpoint": "https://push.example/x", "keys": "x"}, `field "keys"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, b := s.call("POST", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token, tc.body, nil)
			checkRefusal(t, st, b, http.StatusBadRequest, schemas.CodeBadRequest, tc.want)
		})
	}
	t.Run("raw bodies", func(t *testing.T) {
		st, b := rawPost(t, s.base+"/v1/push/subscriptions", u.Token, "application/json", bytes.Repeat([]byte("["), 10<<20))
		checkRefusal(t, st, b, http.StatusRequestEntityTooLarge, schemas.CodePayloadTooLarge, "larger than 8 KiB")
		st, b = rawPost(t, s.base+"/v1/push/subscriptions", u.Token, "text/plain", []byte(`{}`))
		checkRefusal(t, st, b, http.StatusUnsupportedMediaType, schemas.CodeUnsupportedMediaType, "application/json")
		st, b = rawPost(t, s.base+"/v1/push/subscriptions", "", "application/json", []byte(`{}`))
		checkRefusal(t, st, b, http.StatusUnauthorized, schemas.CodeUnauthorized, "bearer token")
		st, b = rawPost(t, s.base+"/v1/push/subscriptions", u.Token, "application/json", []byte(`null`))
		checkRefusal(t, st, b, http.StatusBadRequest, schemas.CodeBadRequest, "not null")
	})
	t.Run("delete of what could not be stored", func(t *testing.T) {
		// A NUL reached PostgreSQL, which refused it: a 500 (schemathesis).
		st, _, b := s.call("DELETE", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token, map[string]string{"endpoint": "https://push.example/\x00"}, nil)
		checkRefusal(t, st, b, http.StatusBadRequest, schemas.CodeBadRequest, `"endpoint" must be a URL`)
	})
	t.Run("mute of an unknown room", func(t *testing.T) {
		st, _, b := s.call("PUT", "/v1/rooms/123/mute", "/v1/rooms/:id/mute", u.Token, nil, nil)
		checkRefusal(t, st, b, http.StatusNotFound, schemas.CodeNotFound, "no such room")
		st, _, b = s.call("PUT", "/v1/rooms/0x1/mute", "/v1/rooms/:id/mute", u.Token, nil, nil)
		checkRefusal(t, st, b, http.StatusBadRequest, schemas.CodeBadRequest, "room id")
	})
	t.Run("too many subscriptions", func(t *testing.T) {
		for i := range 3 {
			_, body := ps.subscribe("allowed"+string(rune('a'+i)), 201)
			body["endpoint"] = strings.Replace(body["endpoint"].(string), "http://127.0.0.1", "https://push.example", 1)
			if st, _, b := s.call("POST", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token, body, nil); st != http.StatusNoContent {
				t.Fatalf("subscription %d: %d %s", i+1, st, b)
			}
		}
		_, body := ps.subscribe("fourth", 201)
		body["endpoint"] = "https://push.example/fourth"
		st, _, b := s.call("POST", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token, body, nil)
		checkRefusal(t, st, b, http.StatusConflict, schemas.CodeConflict, "at most 3 per user")
		// One removed makes room for one more.
		if st, _, b := s.call("DELETE", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token,
			map[string]string{"endpoint": "https://push.example:" + strings.Split(ps.srv.URL, ":")[2] + "/push/alloweda"}, nil); st != http.StatusNoContent {
			t.Fatalf("delete: %d %s", st, b)
		}
		if st, _, b := s.call("POST", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token, body, nil); st != http.StatusNoContent {
			t.Fatalf("after a delete: %d %s", st, b)
		}
	})
	t.Run("flood", func(t *testing.T) {
		limited := 0
		for range 60 {
			st, _, _ := s.call("GET", "/v1/push/mutes", "/v1/push/mutes", u.Token, nil, nil)
			if st == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited == 0 {
			t.Fatal("60 requests past a burst of 40 were all served")
		}
	})
}

func vapidKeyOf(t *testing.T, s *devSystem) string {
	var key struct {
		PublicKey string `json:"public_key"`
	}
	if st, _, b := s.call("GET", "/v1/push/vapid-key", "/v1/push/vapid-key", "", nil, &key); st != http.StatusOK {
		t.Fatalf("vapid key: %d %s", st, b)
	}
	return key.PublicKey
}

// checkRefusal checks an answer is the envelope with status, code, and a
// message that names the rule.
func checkRefusal(t *testing.T, status int, body []byte, wantStatus int, code schemas.Code, want string) {
	t.Helper()
	var env schemas.ErrorBody
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Fatalf("answer %d %q is not the error envelope", status, body)
	}
	if status != wantStatus || env.Error.Code != code || !strings.Contains(env.Error.Message, want) {
		t.Fatalf("answer %d %s %q, want %d %s with %q", status, env.Error.Code, env.Error.Message, wantStatus, code, want)
	}
}

func rawPost(t *testing.T, url, token, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
