package realtime

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"

	"happychat/internal/tokentest"
	"happychat/schemas"
	"happychat/schemas/token"
)

// failingPresence wraps staticCommands with an infrastructure error.
type failingPresence struct{ staticCommands }

func (*failingPresence) Presence(context.Context, schemas.ID) ([]schemas.Member, int64, error) {
	return nil, 0, errors.New("connection refused")
}

// handshakeService is a Service whose tail is marked started without Kafka:
// the handshake's checks are pure logic.
func handshakeService(t testing.TB, cmds Commands, mutate func(*Config)) *httptest.Server {
	t.Helper()
	_, srv := kafkalessService(t, cmds, mutate)
	return srv
}

// kafkalessService is handshakeService with its Service, whose hub a test
// may feed directly.
func kafkalessService(t testing.TB, cmds Commands, mutate func(*Config)) (*Service, *httptest.Server) {
	t.Helper()
	cfg := Config{Brokers: []string{"unused:9092"}, Names: schemas.NamesFor("unit"), Commands: cmds,
		Keys: testKeys(t), Rules: testRules{}, MaxConnsPerUser: 1}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.parts = 1
	close(s.ready)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.shutdown()
		srv.Close()
	})
	return s, srv
}

func TestHandshakeRefusals(t *testing.T) {
	keys := testKeys(t)
	const room, other = schemas.ID(42), schemas.ID(43)
	member, outsider, capped := schemas.ID(7), schemas.ID(8), schemas.ID(9)
	cmds := &staticCommands{seq: 3, members: map[schemas.ID][]schemas.Member{
		room:  {{UserID: member, Nickname: "m"}, {UserID: capped, Nickname: "c"}},
		other: {},
	}}
	srv := handshakeService(t, cmds, nil)
	down := handshakeService(t, &failingPresence{}, nil)
	wsURL := func(base, query string) string { return "ws" + strings.TrimPrefix(base, "http") + "/v1/ws?" + query }
	tokM, tokO, tokC := tokentest.Issue(t, keys, member, "m"), tokentest.Issue(t, keys, outsider, "o"), tokentest.Issue(t, keys, capped, "c")

	// capped holds its one allowed socket for the whole test.
	held, _, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "room=42&token="+tokC), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	tests := []struct {
		name     string
		base     string
		query    string
		header   http.Header
		plainGET bool
		want     int
		code     schemas.Code
	}{
		{"no token", srv.URL, "room=42", nil, false, 401, schemas.CodeUnauthorized},
		{"forged token", srv.URL, "room=42&token=" + tokM + "x", nil, false, 401, schemas.CodeUnauthorized},
		{"token of another secret", srv.URL, "room=42&token=" + tokentest.Issue(t, mustKeys(t, "another-secret-0123456789"), member, "m"), nil, false, 401, schemas.CodeUnauthorized},
		{"missing room", srv.URL, "token=" + tokM, nil, false, 400, schemas.CodeBadRequest},
		{"malformed room", srv.URL, "room=04x&token=" + tokM, nil, false, 400, schemas.CodeBadRequest},
		{"malformed since_seq", srv.URL, "room=42&since_seq=-3&token=" + tokM, nil, false, 400, schemas.CodeBadRequest},
		{"unknown room", srv.URL, "room=99&token=" + tokM, nil, false, 404, schemas.CodeNotFound},
		{"non-member", srv.URL, "room=42&token=" + tokO, nil, false, 403, schemas.CodeForbidden},
		{"member of another room only", srv.URL, "room=43&token=" + tokM, nil, false, 403, schemas.CodeForbidden},
		{"foreign origin", srv.URL, "room=42&token=" + tokM, http.Header{"Origin": {"https://evil.example"}}, false, 403, schemas.CodeForbidden},
		{"not an upgrade", srv.URL, "room=42&token=" + tokM, nil, true, 400, schemas.CodeBadRequest},
		{"too many sockets", srv.URL, "room=42&token=" + tokC, nil, false, 429, schemas.CodeRateLimited},
		{"presence unavailable", down.URL, "room=42&token=" + tokM, nil, false, 503, schemas.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.plainGET {
				var err error
				resp, err = http.Get(tt.base + "/v1/ws?" + tt.query)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				ws, r, err := websocket.DefaultDialer.Dial(wsURL(tt.base, tt.query), tt.header)
				if err == nil {
					ws.Close()
					t.Fatal("upgraded, want a refusal")
				}
				if r == nil {
					t.Fatalf("no response: %v", err)
				}
				resp = r
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			var env schemas.ErrorBody
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code != tt.code {
				t.Fatalf("body %s (err %v), want code %s", body, err, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			if tt.want == 429 && resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			if strings.Contains(string(body), tokM) {
				t.Fatal("the token leaked into the answer")
			}
		})
	}

	t.Run("token from the Authorization header, same origin", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + tokM}, "Origin": {srv.URL}}
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(srv.URL, "room=42"), h)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"type":"presence","room_id":"42","members":[{"user_id":"7","nickname":"m","joined_at":""},{"user_id":"9","nickname":"c","joined_at":""}],"seq":3}`; string(data) != want {
			t.Fatalf("presence %s", data)
		}
	})

	t.Run("not ready", func(t *testing.T) {
		s, err := New(Config{Brokers: []string{"x:1"}, Names: schemas.NamesFor("u"), Commands: cmds, Keys: keys, Rules: testRules{}})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/ws?room=42&token="+tokM, nil))
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d", rec.Code)
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/v1/ws", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" {
			t.Fatalf("status %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func mustKeys(t *testing.T, secret string) *token.Keys {
	t.Helper()
	k, err := token.New(secret, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
