package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/internal/tokentest"
	"happychat/schemas"
	"happychat/schemas/token"
)

// rtCloseTokenRevoked is the close code of a socket whose token was
// revoked (docs/realtime.md).
const rtCloseTokenRevoked = 4004

// TestRevocationE2E: a logout (DELETE /v1/sessions/current) ends its token
// on every instance of every role, each process reading the revocation from
// the users topic on its own: happychat dev (command, query, realtime), a
// second realtime process and a split query process. The token's open
// sockets on both realtime instances close with 4004; every service then
// answers it 401 (command, both queries, both realtime handshakes, a second
// logout). Another user's token, and another token (session) of the same
// user, keep working, their sockets open and receiving.
func TestRevocationE2E(t *testing.T) {
	s := startRealtimeDev(t, nil)
	split := s.startSplitRealtime(t)
	qenv := maps.Clone(s.env)
	qenv["CHAT_HTTP_ADDR"] = "127.0.0.1:0"
	splitQuery := &devSystem{t: t, base: "http://" + runServing(t, "query", qenv), doc: s.doc}

	room := s.openRoom("revocation")
	leaver := s.member(room, "leaver")
	stayer := s.member(room, "stayer")
	keys, err := token.New(s.env["CHAT_TOKEN_SECRET"], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Another session of the leaver's user: the logout ends one token, not
	// the user.
	sibling := leaver
	sibling.Token = tokentest.Issue(t, keys, leaver.UserID, leaver.Nickname)

	open := func(name, base string, u schemas.Session) *rtClient {
		c := dialRT(t, name, base, room, u, -1, nil)
		c.presence()
		return c
	}
	leaverDev, leaverSplit := open("leaver@dev", s.base, leaver), open("leaver@split", split, leaver)
	stayerDev, stayerSplit := open("stayer@dev", s.base, stayer), open("stayer@split", split, stayer)
	siblingSplit := open("sibling@split", split, sibling)

	if st, _, b := s.call("DELETE", "/v1/sessions/current", "/v1/sessions/current", leaver.Token, nil, nil); st != http.StatusNoContent {
		t.Fatalf("logout: %d %s", st, b)
	}

	for _, c := range []*rtClient{leaverDev, leaverSplit} {
		if _, code, err := readToClose(c.ws, 30*time.Second); code != rtCloseTokenRevoked {
			t.Errorf("%s: closed with %d (%v), want %d", c.name, code, err, rtCloseTokenRevoked)
		}
	}

	// Every door refuses the token once its process has read the
	// revocation (the sockets above show that the two realtime processes
	// have; the split query reads it on its own).
	handshake := func(base string, tok string) (int, string) {
		ws, resp, err := websocket.DefaultDialer.Dial(rtWSURL(base, room, tok, -1), nil)
		if err == nil {
			ws.Close()
			return http.StatusSwitchingProtocols, ""
		}
		if resp == nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, "the revoked token refused everywhere", func() error {
		type answer struct {
			door string
			st   int
			body []byte
		}
		var answers []answer
		st, _, b := s.call("POST", roomPath(room)+"/messages", "/v1/rooms/:id/messages", leaver.Token,
			map[string]string{"body": "still here?", "client_msg_id": "after-logout"}, nil)
		answers = append(answers, answer{"command: send", st, b})
		st, _, b = s.call("GET", "/v1/rooms", "/v1/rooms", leaver.Token, nil, nil)
		answers = append(answers, answer{"query (dev): rooms", st, b})
		st, _, b = splitQuery.call("GET", "/v1/rooms", "/v1/rooms", leaver.Token, nil, nil)
		answers = append(answers, answer{"query (split): rooms", st, b})
		st, body := handshake(s.base, leaver.Token)
		answers = append(answers, answer{"realtime (dev): handshake", st, []byte(body)})
		st, body = handshake(split, leaver.Token)
		answers = append(answers, answer{"realtime (split): handshake", st, []byte(body)})
		for _, a := range answers {
			if a.st != http.StatusUnauthorized || !strings.Contains(string(a.body), `"code":"unauthorized"`) {
				return fmt.Errorf("%s: %d %s, want 401 unauthorized", a.door, a.st, a.body)
			}
		}
		return nil
	})
	if st, _, b := s.call("DELETE", "/v1/sessions/current", "/v1/sessions/current", leaver.Token, nil, nil); st != http.StatusUnauthorized {
		t.Errorf("a second logout with the revoked token: %d %s, want 401", st, b)
	}

	// The others: the stayer's and the sibling's tokens still work on
	// every service, and their sockets stayed open and deliver.
	var sent []schemas.Message
	for _, u := range []schemas.Session{stayer, sibling} {
		sent = append(sent, s.post(room, u, "still here, "+u.Nickname))
		if st, _, b := splitQuery.call("GET", "/v1/rooms", "/v1/rooms", u.Token, nil, nil); st != http.StatusOK {
			t.Errorf("split query with a token not revoked: %d %s", st, b)
		}
		if st, b := handshake(split, u.Token); st != http.StatusSwitchingProtocols {
			t.Errorf("handshake with a token not revoked: %d %s", st, b)
		}
	}
	for _, c := range []*rtClient{stayerDev, stayerSplit, siblingSplit} {
		events, _ := c.eventsUntil(sent[len(sent)-1].Seq, 30*time.Second)
		got := map[schemas.ID]bool{}
		for _, e := range events {
			if e.Message != nil {
				got[e.Message.ID] = true
			}
		}
		for _, m := range sent {
			if !got[m.ID] {
				t.Errorf("%s: message %d (seq %d) not delivered after the logout", c.name, m.ID, m.Seq)
			}
		}
	}
}
