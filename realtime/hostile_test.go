package realtime

import (
	"encoding/base64"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"

	"happychat/internal/clientjson"
	"happychat/internal/tokentest"
	"happychat/schemas"
)

// Hostile input at the WebSocket handshake (docs/hostile-inputs.md). The
// frames a socket sends once open are in TestHostileFrames; the basic
// refusals (missing, forged or foreign tokens, bad parameters, foreign
// origins, too many sockets) in TestHandshakeRefusals; the origin rule in
// TestOriginAllowed. These add what those leave out. No Kafka: the
// handshake's checks are pure logic over a fake presence.

func TestHostileHandshakes(t *testing.T) {
	keys := testKeys(t)
	const room = schemas.ID(42)
	member := schemas.ID(7)
	cmds := &staticCommands{seq: 3, members: map[schemas.ID][]schemas.Member{room: {{UserID: member, Nickname: "m"}}}}
	srv := handshakeService(t, cmds, func(c *Config) { c.MaxConnsPerUser = 100 })
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws?"
	tok := tokentest.Issue(t, keys, member, "m")
	expired, _, err := keys.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }).Issue(member, "m")
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	algNone := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"nick":"m","iss":"happychat","sub":"7","exp":9999999999}`) + "."
	host := strings.TrimPrefix(srv.URL, "http://")

	tests := []struct {
		name   string
		query  string
		origin string
		status int
		code   schemas.Code
	}{
		{"alg none token", "room=42&token=" + algNone, "", 401, schemas.CodeUnauthorized},
		{"expired token", "room=42&token=" + expired, "", 401, schemas.CodeUnauthorized},
		{"token of 64 KiB", "room=42&token=" + strings.Repeat("A", 64<<10), "", 401, schemas.CodeUnauthorized},
		{"token with NUL", "room=42&token=" + tok + "%00", "", 401, schemas.CodeUnauthorized},
		{"room above 2^63", "room=9223372036854775808&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"room above 2^53 but not ours", "room=9007199254740993&token=" + tok, "", 404, schemas.CodeNotFound},
		{"room in Arabic-Indic digits", "room=%D9%A4%D9%A2&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"room in fullwidth digits", "room=%EF%BC%94%EF%BC%92&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"room with a sign", "room=%2B42&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"room with NUL", "room=42%00&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"room as SQL", "room=42%27%20OR%201%3D1&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"since_seq as exponent", "room=42&since_seq=1e3&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"since_seq in hex", "room=42&since_seq=0x10&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"since_seq invalid UTF-8", "room=42&since_seq=%FF&token=" + tok, "", 400, schemas.CodeBadRequest},
		{"origin: host as a prefix of another", "room=42&token=" + tok, "http://" + host + ".evil.example", 403, schemas.CodeForbidden},
		{"origin: host in userinfo", "room=42&token=" + tok, "http://" + host + "@evil.example", 403, schemas.CodeForbidden},
		{"origin: host in the path", "room=42&token=" + tok, "http://evil.example/" + host, 403, schemas.CodeForbidden},
		{"origin: javascript scheme", "room=42&token=" + tok, "javascript://" + host, 403, schemas.CodeForbidden},
		{"origin: file scheme", "room=42&token=" + tok, "file://" + host, 403, schemas.CodeForbidden},
		{"origin: ws scheme", "room=42&token=" + tok, "ws://" + host, 403, schemas.CodeForbidden},
		{"origin: garbage", "room=42&token=" + tok, "%%%", 403, schemas.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ws, resp, err := websocket.DefaultDialer.Dial(wsURL+tt.query, h)
			if err == nil {
				ws.Close()
				t.Fatal("upgraded, want a refusal")
			}
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var env schemas.ErrorBody
			if resp.StatusCode != tt.status || json.Unmarshal(body, &env) != nil || env.Error == nil || env.Error.Code != tt.code {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
			if !utf8.Valid(body) || strings.Contains(string(body), tok) {
				t.Fatalf("answer is not clean UTF-8 or echoes the token: %q", body)
			}
		})
	}

	// After all that, the member still gets in.
	ws, _, err := websocket.DefaultDialer.Dial(wsURL+"room=42&token="+tok, nil)
	if err != nil {
		t.Fatalf("a well-formed handshake after the hostile ones: %v", err)
	}
	ws.Close()
}

// A flood of handshakes by one user is cut by the per-user connect rate
// (429 with Retry-After, before any upgrade); other users are unaffected.
func TestHandshakeFlood(t *testing.T) {
	keys := testKeys(t)
	const room = schemas.ID(42)
	flooder, other := schemas.ID(7), schemas.ID(8)
	cmds := &staticCommands{seq: 3, members: map[schemas.ID][]schemas.Member{
		room: {{UserID: flooder, Nickname: "f"}, {UserID: other, Nickname: "o"}},
	}}
	srv := handshakeService(t, cmds, func(c *Config) {
		c.MaxConnsPerUser = 1000
		c.UserConnectRate, c.UserConnectBurst = 0.5, 10
	})
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws?room=42&token="
	const attempts = 40
	upgraded, limited := 0, 0
	for range attempts {
		ws, resp, err := websocket.DefaultDialer.Dial(wsURL+tokentest.Issue(t, keys, flooder, "f"), nil)
		if err == nil {
			upgraded++
			ws.Close()
			continue
		}
		if resp == nil {
			t.Fatalf("no answer: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		limited++
	}
	// The burst, plus what the rate refilled while the loop ran.
	if upgraded < 10 || upgraded > 12 || limited != attempts-upgraded {
		t.Fatalf("%d upgraded, %d limited of %d", upgraded, limited, attempts)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL+tokentest.Issue(t, keys, other, "o"), nil)
	if err != nil {
		t.Fatalf("another user during the flood: %v", err)
	}
	ws.Close()
}

// FuzzParseClientFrame: whatever a client sends as a text frame, the parser
// never panics; it accepts only a send with a client_msg_id or a ping, and
// refuses everything else with a bad_request whose message is short valid
// UTF-8; an accepted frame decodes the same after a round trip.
func FuzzParseClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"send","body":"hi 👋","client_msg_id":"a"}`,
		`{"type":"ping"}`,
		`{"type":"send","body":"x","client_msg_id":"q","extra":true}`,
		`{"type":"send","type":"send","body":"x","client_msg_id":"q"}`,
		`{"TYPE":"send","body":"x","client_msg_id":"q"}`,
		`{"type":"send","body":"\ud800","client_msg_id":"q"}`,
		"{\"type\":\"send\",\"body\":\"\xff\",\"client_msg_id\":\"q\"}",
		`{"type":"send","body":"x","client_msg_id":"q"} {}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"type":"send","body":"<script>alert(1)</script>","client_msg_id":"x"}`,
		`{"type":"subscribe","client_msg_id":"` + strings.Repeat("z", 300) + `"}`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, perr := parseClientFrame(data)
		if perr != nil {
			if perr.Code != schemas.CodeBadRequest {
				t.Fatalf("error code %s", perr.Code)
			}
			if !utf8.ValidString(perr.Message) || utf8.RuneCountInString(perr.Message) > 300 || clientjson.NamesGoInternals(perr.Message) {
				t.Fatalf("error message %q", perr.Message)
			}
			return
		}
		switch fr.Type {
		case typePing, typeTyping:
			return
		case typeSend:
		default:
			t.Fatalf("accepted a frame of type %q", fr.Type)
		}
		if fr.ClientMsgID == "" {
			t.Fatal("accepted a send without client_msg_id")
		}
		if !utf8.ValidString(fr.Body) || !utf8.ValidString(fr.ClientMsgID) {
			t.Fatal("accepted invalid UTF-8")
		}
		again, err := schemas.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		if back, perr := parseClientFrame(again); perr != nil || !reflect.DeepEqual(back, fr) {
			t.Fatalf("round trip: %+v %v, want %+v", back, perr, fr)
		}
	})
}
