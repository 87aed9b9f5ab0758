package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// TestModerationEndToEnd on happychat dev (every service, the real
// servers): the owner of a private room kicks a member who holds a socket
// and an event stream on it: both end with 4009 after the member_left,
// and every read path of the room answers 403 to them afterwards. A ban
// holds across invites and joins until lifted; only owners and admins
// moderate; an admin closes a topic room; the timeline tells who removed
// whom, also after a replay.
func TestModerationEndToEnd(t *testing.T) {
	s := startRealtimeDev(t, map[string]string{"CHAT_HEAVY_READ_RATE": "100", "CHAT_HEAVY_READ_BURST": "100"})
	topic := s.openRoom("mod lobby")
	alice, bob, eve := s.member(topic, "alice"), s.member(topic, "bob"), s.member(topic, "eve")

	var priv schemas.Room
	if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", alice.Token,
		map[string]string{"title": "moderated", "visibility": "private"}, &priv); st != http.StatusCreated {
		t.Fatalf("create private: %d %s", st, b)
	}
	var inv struct {
		Code string `json:"code"`
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/invites", "/v1/rooms/:id/invites", alice.Token, map[string]int{"max_uses": 10}, &inv); st != http.StatusCreated {
		t.Fatalf("invite: %d %s", st, b)
	}
	accept := func(u schemas.Session) (int, []byte) {
		st, _, b := s.call("POST", "/v1/invites/"+url.PathEscape(inv.Code)+"/accept", "/v1/invites/:code/accept", u.Token, nil, nil)
		return st, b
	}
	for _, u := range []schemas.Session{bob, eve} {
		if st, b := accept(u); st != http.StatusOK {
			t.Fatalf("%s accepts: %d %s", u.Nickname, st, b)
		}
	}
	secret := s.post(priv.ID, alice, "members only")

	moderate := func(action string, room schemas.ID, tok string, body any) (int, []byte) {
		st, _, b := s.call("POST", roomPath(room)+"/"+action, "/v1/rooms/:id/"+action, tok, body, nil)
		return st, b
	}
	// Refusals: a member who is not the owner, a non-member, bad ids, self.
	for _, c := range []struct {
		name, action, tok string
		body              any
		want              int
		code              string
	}{
		{"a member kicks", "kick", eve.Token, map[string]any{"user_id": bob.UserID}, 403, "forbidden"},
		{"a member bans", "ban", bob.Token, map[string]any{"user_id": eve.UserID}, 403, "forbidden"},
		{"kick a non-member", "kick", alice.Token, map[string]any{"user_id": schemas.ID(123456789)}, 404, "not_found"},
		{"kick a bad id", "kick", alice.Token, map[string]any{"user_id": "abc"}, 400, "bad_request"},
		{"kick oneself", "kick", alice.Token, map[string]any{"user_id": alice.UserID}, 400, "bad_request"},
		{"ban oneself", "ban", alice.Token, map[string]any{"user_id": alice.UserID}, 400, "bad_request"},
		{"a user closes a topic", "close", alice.Token, map[string]any{}, 403, "forbidden"},
		{"the admin closes a private room", "close", e2eAdmin, map[string]any{}, 400, "bad_request"},
	} {
		room := priv.ID
		if c.action == "close" && c.tok == alice.Token {
			room = topic
		}
		if st, b := moderate(c.action, room, c.tok, c.body); st != c.want || !bytes.Contains(b, []byte(`"code":"`+c.code+`"`)) {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, b, c.want, c.code)
		}
	}

	// Bob follows the room on a socket and on an event stream.
	ws := dialRT(t, "bob", s.base, priv.ID, bob, -1, nil)
	ws.presence()
	sse := openStream(t, s.base, priv.ID, bob.Token)

	if st, b := moderate("kick", priv.ID, alice.Token, map[string]any{"user_id": bob.UserID, "reason": "off topic"}); st != http.StatusOK ||
		!bytes.Contains(b, []byte(`"member_count":2`)) {
		t.Fatalf("alice kicks bob: %d %s", st, b)
	}
	// The socket: member_left (removed, by alice), then close 4009.
	var left bool
	for {
		_ = ws.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, data, err := ws.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != 4009 || !left {
				t.Fatalf("bob's socket closed %d (member_left seen: %v), want 4009 after member_left", ce.Code, left)
			}
			break
		}
		if err != nil {
			t.Fatalf("bob's socket: %v", err)
		}
		if bytes.Contains(data, []byte(`"type":"member_left"`)) {
			if !bytes.Contains(data, []byte(`"reason":"removed"`)) || !bytes.Contains(data, []byte(`"by_nickname":"alice"`)) {
				t.Fatalf("member_left of a kick: %s", data)
			}
			left = true
		}
	}
	// The stream: the same member_left, then its close event with 4009.
	if frames := sse.untilClose(t); !strings.Contains(frames, `"reason":"removed"`) || !strings.Contains(frames, `"code":4009`) {
		t.Fatalf("bob's stream:\n%s", frames)
	}

	// Every read path of the private room: 403 for bob once the views know.
	from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	to := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	paths := [][2]string{
		{roomPath(priv.ID), "/v1/rooms/:id"},
		{roomPath(priv.ID) + "/messages", "/v1/rooms/:id/messages"},
		{roomPath(priv.ID) + "/messages/export", "/v1/rooms/:id/messages/export"},
		{roomPath(priv.ID) + "/timeline", "/v1/rooms/:id/timeline"},
		{"/v1/analytics/activity?bucket=minute&room=" + priv.ID.String() + "&from=" + from + "&to=" + to, "/v1/analytics/activity"},
	}
	eventually(t, "bob refused on every read path", func() error {
		for _, p := range paths {
			if st, _, b := s.call("GET", p[0], p[1], bob.Token, nil, nil); st != http.StatusForbidden {
				return fmt.Errorf("GET %s: %d %s", p[0], st, b)
			}
		}
		return nil
	})
	for _, since := range []int64{-1, 0} {
		if st := refusedDial(t, s.base, priv.ID, bob.Token, since); st != http.StatusForbidden {
			t.Errorf("bob's socket after the kick (since %d): %d, want 403", since, st)
		}
	}
	if st := streamStatus(t, s.base, priv.ID, bob.Token); st != http.StatusForbidden {
		t.Errorf("bob's stream after the kick: %d, want 403", st)
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/messages", "/v1/rooms/:id/messages", bob.Token,
		map[string]string{"body": "let me in", "client_msg_id": "k1"}, nil); st != http.StatusForbidden {
		t.Errorf("bob posts after the kick: %d %s", st, b)
	}

	// A ban: eve is removed and can come back neither by the invite nor by
	// an add, until the ban is lifted. Bob, only kicked, comes back.
	if st, b := moderate("ban", priv.ID, alice.Token, map[string]any{"user_id": eve.UserID, "reason": "abuse"}); st != http.StatusOK {
		t.Fatalf("alice bans eve: %d %s", st, b)
	}
	if st, b := accept(eve); st != http.StatusForbidden || !bytes.Contains(b, []byte(`"code":"banned"`)) {
		t.Fatalf("eve accepts while banned: %d %s", st, b)
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/members", "/v1/rooms/:id/members", alice.Token, map[string]any{"user_id": eve.UserID}, nil); st != http.StatusForbidden ||
		!bytes.Contains(b, []byte(`"code":"banned"`)) {
		t.Fatalf("eve added while banned: %d %s", st, b)
	}
	if st, b := accept(bob); st != http.StatusOK {
		t.Fatalf("bob comes back after a kick: %d %s", st, b)
	}
	if st, b := moderate("unban", priv.ID, alice.Token, map[string]any{"user_id": eve.UserID}); st != http.StatusOK {
		t.Fatalf("unban eve: %d %s", st, b)
	}
	if st, b := accept(eve); st != http.StatusOK {
		t.Fatalf("eve accepts after the unban: %d %s", st, b)
	}

	// An admin bans bob from the lobby (a topic room): he cannot rejoin.
	if st, b := moderate("ban", topic, e2eAdmin, map[string]any{"user_id": bob.UserID}); st != http.StatusOK {
		t.Fatalf("the admin bans bob from the lobby: %d %s", st, b)
	}
	if st, _, b := s.call("POST", roomPath(topic)+"/join", "/v1/rooms/:id/join", bob.Token, nil, nil); st != http.StatusForbidden ||
		!bytes.Contains(b, []byte(`"code":"banned"`)) {
		t.Fatalf("bob rejoins the lobby while banned: %d %s", st, b)
	}

	// An admin closes a topic room: no joins, no sends, listed nowhere,
	// still readable.
	event := s.openRoom("mod event")
	carol := s.member(event, "carol")
	if st, b := moderate("close", event, e2eAdmin, map[string]any{"reason": "the event is over"}); st != http.StatusOK ||
		!bytes.Contains(b, []byte(`"status":"closed"`)) {
		t.Fatalf("close: %d %s", st, b)
	}
	if st, _, b := s.call("POST", roomPath(event)+"/messages", "/v1/rooms/:id/messages", carol.Token,
		map[string]string{"body": "anyone?", "client_msg_id": "c1"}, nil); st != http.StatusConflict || !bytes.Contains(b, []byte(`"code":"room_closed"`)) {
		t.Fatalf("send in a closed room: %d %s", st, b)
	}
	if st, _, b := s.call("POST", roomPath(event)+"/join", "/v1/rooms/:id/join", alice.Token, nil, nil); st != http.StatusConflict || !bytes.Contains(b, []byte(`"code":"room_closed"`)) {
		t.Fatalf("join a closed room: %d %s", st, b)
	}
	eventually(t, "the closed room is read, not listed", func() error {
		var r schemas.Room
		if st, _, b := s.call("GET", roomPath(event), "/v1/rooms/:id", eve.Token, nil, &r); st != http.StatusOK || r.Status != schemas.RoomStatusClosed {
			return fmt.Errorf("GET the closed room: %d %s", st, b)
		}
		var list struct {
			Rooms []schemas.Room `json:"rooms"`
		}
		s.call("GET", "/v1/rooms", "/v1/rooms", eve.Token, nil, &list)
		for _, r := range list.Rooms {
			if r.ID == event {
				return fmt.Errorf("GET /v1/rooms lists the closed room")
			}
		}
		return nil
	})

	// The audit: alice's timeline says who removed bob; so after a replay.
	timeline := func() error {
		st, _, b := s.call("GET", roomPath(priv.ID)+"/timeline", "/v1/rooms/:id/timeline", alice.Token, nil, nil)
		if st != http.StatusOK || !bytes.Contains(b, []byte(`"reason":"removed","by":"`+alice.UserID.String()+`","by_nickname":"alice","note":"off topic"`)) ||
			!bytes.Contains(b, []byte(`"reason":"banned"`)) || !bytes.Contains(b, []byte(secret.Body)) {
			return fmt.Errorf("timeline: %d %s", st, b)
		}
		return nil
	}
	eventually(t, "the timeline shows the kick", timeline)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := runTool(ctx, s.env, "replay", "--view", "rooms"); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if err := timeline(); err != nil {
		t.Fatalf("after replay: %v", err)
	}
}

// sseStream is an open event stream of a room.
type sseStream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openStream(t *testing.T, base string, room schemas.ID, tok string) *sseStream {
	t.Helper()
	resp, err := http.Get(base + roomPath(room) + "/events?token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// untilClose reads the stream until its close event (or 20 s) and returns
// what it read.
func (s *sseStream) untilClose(t *testing.T) string {
	t.Helper()
	timer := time.AfterFunc(20*time.Second, func() { s.resp.Body.Close() })
	defer timer.Stop()
	var all strings.Builder
	closing := false
	for s.sc.Scan() {
		line := s.sc.Text()
		all.WriteString(line + "\n")
		if line == "event: close" {
			closing = true
		}
		if closing && strings.HasPrefix(line, "data:") {
			return all.String()
		}
	}
	t.Fatalf("the stream ended without a close event:\n%s", all.String())
	return ""
}

// streamStatus is the status of a stream request that must be refused.
func streamStatus(t *testing.T, base string, room schemas.ID, tok string) int {
	t.Helper()
	resp, err := http.Get(base + roomPath(room) + "/events?token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
