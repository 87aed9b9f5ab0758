package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/testenv"
	"happychat/internal/wstest"
	"happychat/schemas"
	"happychat/schemas/token"
)

// errorEnvelope checks a frame is exactly the contract's error frame:
// {"type":"error","client_msg_id"?,"error":{"code","message"}}.
func errorEnvelope(f wstest.Frame, code schemas.Code, cmid string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(f.Raw, &m); err != nil {
		return err
	}
	for k := range m {
		if k != "type" && k != "client_msg_id" && k != "error" {
			return fmt.Errorf("unexpected member %q in %s", k, f)
		}
	}
	var e map[string]any
	if err := json.Unmarshal(m["error"], &e); err != nil || len(e) != 2 {
		return fmt.Errorf("error member %s", m["error"])
	}
	if msg, ok := e["message"].(string); !ok || msg == "" {
		return fmt.Errorf("error message in %s", f)
	}
	if f.Type != rtError || f.Error == nil || f.Error.Code != code {
		return fmt.Errorf("got %s, want an error frame %s", f, code)
	}
	if _, has := m["client_msg_id"]; has != (cmid != "") || f.ClientMsgID != cmid {
		return fmt.Errorf("client_msg_id %q (present: %v), want %q: %s", f.ClientMsgID, has, cmid, f)
	}
	return nil
}

// TestRealtimeE2EHostileFrames: each hostile frame on its own socket gets
// the documented answer — an error frame and the socket stays usable, or
// the documented close — and the server keeps serving everyone else.
func TestRealtimeE2EHostileFrames(t *testing.T) {
	s := startRealtimeDev(t, map[string]string{"CHAT_ROOM_CAPACITY": "40"})
	room := s.openRoom("hostile")
	poster := s.member(room, "poster")
	watcher := s.member(room, "watcher")
	w := dialRT(t, "watcher", s.base, room, watcher, -1, nil)
	wSnap := w.presence().Seq
	wCol := w.collect()

	errorCases := []struct {
		name  string
		frame string
		id    string // the client_msg_id the error frame names
	}{
		{"not JSON", `hello`, ""},
		{"truncated JSON", `{"type":"send","body":"x","client_msg_id":"t1"`, ""},
		{"JSON array", `[{"type":"ping"}]`, ""},
		{"JSON null", `null`, ""},
		{"unknown type", `{"type":"subscribe","client_msg_id":"u1"}`, "u1"},
		{"no type", `{"body":"x"}`, ""},
		// docs/realtime.md: client_msg_id "is omitted from an error frame when
		// the frame it answers had none that could be read" — this one has one.
		{"no type, with a client_msg_id", `{"body":"x","client_msg_id":"u0"}`, "u0"},
		{"send without client_msg_id", `{"type":"send","body":"x"}`, ""},
		{"send without body", `{"type":"send","client_msg_id":"u2"}`, "u2"},
		{"send with an unknown member", `{"type":"send","body":"x","client_msg_id":"u3","room":"1"}`, "u3"},
		{"send with a mistyped body", `{"type":"send","body":["x"],"client_msg_id":"u4"}`, "u4"},
		{"send with a body too long", `{"type":"send","body":"` + strings.Repeat("가", 2001) + `","client_msg_id":"u5"}`, "u5"},
		{"send with an invalid client_msg_id", `{"type":"send","body":"x","client_msg_id":"no spaces allowed"}`, "no spaces allowed"},
	}
	for i, tc := range errorCases {
		t.Run("error frame/"+tc.name, func(t *testing.T) {
			s := s.with(t)
			u := s.member(room, fmt.Sprintf("bad frame %d", i))
			c := dialRT(t, tc.name, s.base, room, u, -1, nil)
			c.presence()
			if err := c.ws.WriteMessage(websocket.TextMessage, []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			f := c.mustRead(20 * time.Second)
			if err := errorEnvelope(f, schemas.CodeBadRequest, tc.id); err != nil {
				t.Fatal(err)
			}
			// Still usable: a ping, then a send.
			c.sendJSON(map[string]string{"type": "ping"})
			if f := c.mustRead(20 * time.Second); f.Type != rtPong {
				t.Fatalf("after the error frame, a ping got %s", f)
			}
			cmid := "ok-" + testenv.RandomHex(4)
			c.sendJSON(sendFrame(cmid, "fine after "+tc.name))
			var ack, ev *wstest.Frame
			for ack == nil || ev == nil {
				f := c.mustRead(20 * time.Second)
				switch {
				case f.Type == rtAck && f.ClientMsgID == cmid:
					ack = &f
				case f.Type == wstest.TypeMessage && f.Message.ClientMsgID == cmid:
					ev = &f
				default:
					t.Fatalf("unexpected frame %s", f)
				}
			}
			if err := sameMessage(*ack.Message, *ev.Message); err != nil {
				t.Fatal(err)
			}
		})
	}

	closeCases := []struct {
		name string
		mt   int
		data []byte
		want int
	}{
		{"oversized frame", websocket.TextMessage, []byte(`{"type":"send","body":"` + strings.Repeat("a", 16<<10) + `","client_msg_id":"big"}`), rtCloseTooBig},
		{"invalid UTF-8", websocket.TextMessage, []byte("{\"type\":\"send\",\"body\":\"\xff\xfe\",\"client_msg_id\":\"utf\"}"), rtCloseInvalidPayload},
		{"binary frame", websocket.BinaryMessage, []byte(`{"type":"ping"}`), rtCloseUnsupportedData},
	}
	for i, tc := range closeCases {
		t.Run("close/"+tc.name, func(t *testing.T) {
			s := s.with(t)
			u := s.member(room, fmt.Sprintf("closer %d", i))
			c := dialRT(t, tc.name, s.base, room, u, -1, nil)
			c.presence()
			if err := c.ws.WriteMessage(tc.mt, tc.data); err != nil {
				t.Fatal(err)
			}
			frames, code, err := readToClose(c.ws, 20*time.Second)
			if code != tc.want {
				t.Fatalf("close code %d (%v), want %d; frames %v", code, err, tc.want, frames)
			}
			for _, f := range frames {
				if !f.IsEvent() {
					t.Fatalf("unexpected frame before the close: %s", f)
				}
			}
		})
	}

	t.Run("close/frame flood", func(t *testing.T) {
		s := s.with(t)
		u := s.member(room, "flooder")
		c := dialRT(t, "flooder", s.base, room, u, -1, nil)
		c.presence()
		flooded := make(chan int, 1)
		go func() {
			n := 0
			for ; n < 300; n++ {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) != nil {
					break
				}
			}
			flooded <- n
		}()
		frames, code, err := readToClose(c.ws, 30*time.Second)
		<-flooded
		if code != rtClosePolicyViolation {
			t.Fatalf("close code %d (%v), want %d", code, err, rtClosePolicyViolation)
		}
		pongs, limited := 0, 0
		for _, f := range frames {
			switch f.Type {
			case rtPong:
				if limited > 0 {
					// A token refilled meanwhile: allowed again.
					t.Logf("a pong after %d rate_limited frames", limited)
				}
				pongs++
			case rtError:
				if err := errorEnvelope(f, schemas.CodeRateLimited, ""); err != nil {
					t.Fatal(err)
				}
				limited++
			default:
				if !f.IsEvent() {
					t.Fatalf("unexpected frame %s", f)
				}
			}
		}
		// 20 frames/s with a burst of 40 (docs/realtime.md): the burst is
		// answered, then rate_limited errors, then 1008 after more than a
		// burst's worth in a row.
		if pongs < 40 || limited < 40 {
			t.Fatalf("%d pongs and %d rate_limited errors before the close, want at least 40 of each", pongs, limited)
		}
	})

	// The server keeps serving: the watcher saw every event, and a fresh
	// socket gets deliveries.
	u := s.member(room, "newcomer")
	c := dialRT(t, "newcomer", s.base, room, u, -1, nil)
	snap := c.presence().Seq
	m := s.post(room, poster, "after the storm")
	events, _ := c.eventsUntil(m.Seq, 30*time.Second)
	checkSeqRun(t, "newcomer", events, snap+1, m.Seq)
	checkMessages(t, "newcomer", events, []schemas.Message{m})
	wCol.waitSeq(t, m.Seq)
	events, others := splitFrames(t, "watcher", room, wCol.stop())
	checkSeqRun(t, "watcher", events, wSnap+1, m.Seq)
	if len(others) > 0 {
		t.Fatalf("watcher: unexpected frames %v", others)
	}
	checkNoGaps(t, s.base)
}

// TestRealtimeE2ERefusals: handshakes the service must refuse before the
// upgrade, each with its status and the contract's error envelope (and the
// OpenAPI document's shape), never echoing the token.
func TestRealtimeE2ERefusals(t *testing.T) {
	s := startRealtimeDev(t, nil)
	room := s.openRoom("members only")
	otherRoom := s.openRoom("elsewhere")
	member := s.member(room, "member")
	outsider := s.session("outsider")
	elsewhere := s.member(otherRoom, "elsewhere")
	former := s.member(room, "former")
	s.leave(room, former)
	foreignKeys, err := token.New("another-deployment-secret-0123456789", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, _, err := foreignKeys.Issue(member.UserID, member.Nickname)
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.base, "http://")
	_, portStr, _ := net.SplitHostPort(host)
	port, _ := strconv.Atoi(portStr)

	q := func(room schemas.ID, tok string) string {
		v := url.Values{"room": {room.String()}}
		if tok != "" {
			v.Set("token", tok)
		}
		return v.Encode()
	}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name   string
		query  string
		header http.Header
		status int
		code   schemas.Code
		secret string // must not appear in the answer
	}{
		{"not a member", q(room, outsider.Token), nil, 403, schemas.CodeForbidden, outsider.Token},
		{"member of another room", q(room, elsewhere.Token), nil, 403, schemas.CodeForbidden, elsewhere.Token},
		{"former member", q(room, former.Token), nil, 403, schemas.CodeForbidden, former.Token},
		{"not a member, bearer header", q(room, ""), hdr("Authorization", "Bearer "+outsider.Token), 403, schemas.CodeForbidden, outsider.Token},
		{"no token", q(room, ""), nil, 401, schemas.CodeUnauthorized, ""},
		{"invalid token", q(room, "not-a-token"), nil, 401, schemas.CodeUnauthorized, "not-a-token"},
		{"token of another secret", q(room, forged), nil, 401, schemas.CodeUnauthorized, forged},
		{"invalid bearer header", q(room, ""), hdr("Authorization", "Bearer not-a-token"), 401, schemas.CodeUnauthorized, "not-a-token"},
		{"unknown room", q(schemas.ID(4242), member.Token), nil, 404, schemas.CodeNotFound, member.Token},
		{"room is not an id", "room=lobby&token=" + url.QueryEscape(member.Token), nil, 400, schemas.CodeBadRequest, member.Token},
		{"negative since_seq", q(room, member.Token) + "&since_seq=-1", nil, 400, schemas.CodeBadRequest, member.Token},
		{"disallowed origin", q(room, member.Token), hdr("Origin", "https://evil.example"), 403, schemas.CodeForbidden, member.Token},
		{"origin on another port", q(room, member.Token), hdr("Origin", fmt.Sprintf("http://127.0.0.1:%d", port+1)), 403, schemas.CodeForbidden, member.Token},
		{"origin with another scheme", q(room, member.Token), hdr("Origin", "ws://"+host), 403, schemas.CodeForbidden, member.Token},
	}
	wsBase := "ws://" + host + "/v1/ws?"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, resp, err := websocket.DefaultDialer.Dial(wsBase+tc.query, tc.header)
			if err == nil {
				ws.Close()
				t.Fatalf("upgraded, want %d", tc.status)
			}
			if resp == nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tc.status)
			}
			var env schemas.ErrorBody
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code != tc.code || env.Error.Message == "" {
				t.Fatalf("answer %s, want the error envelope with %s", body, tc.code)
			}
			if err := s.doc.ValidateResponse("GET", "/v1/ws", resp.StatusCode, resp.Header, body); err != nil {
				t.Fatalf("answered outside the OpenAPI document: %v\n%s", err, body)
			}
			if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Fatalf("refusal carries upgrade headers: %v", resp.Header)
			}
			if tc.secret != "" && strings.Contains(string(body), tc.secret) {
				t.Fatalf("the answer echoes the token: %s", body)
			}
		})
	}

	// The member gets in: with ?token= and its own origin, and with the
	// bearer header.
	for _, h := range []http.Header{hdr("Origin", "http://"+host), nil} {
		query := q(room, member.Token)
		if h == nil {
			query, h = q(room, ""), hdr("Authorization", "Bearer "+member.Token)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(wsBase+query, h)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("member refused (%d): %v", status, err)
		}
		c := &rtClient{t: t, name: "member", room: room, ws: ws}
		p := c.presence()
		if len(p.Members) != 1 || p.Members[0].UserID != member.UserID {
			t.Fatalf("presence %s", p)
		}
		ws.Close()
	}
}
