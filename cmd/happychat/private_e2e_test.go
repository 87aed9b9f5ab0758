package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"happychat/schemas"
)

// TestPrivateRoomsAndDirectMessages on happychat dev (every service, the
// real servers): a private room and a direct message are their members'
// only on every read path and on the socket (403 for anyone else, anonymous
// or not), are never listed, do not move anyone out of their topic room,
// and come back the same from `happychat replay`. Invites admit up to their
// uses; a direct message is one room per pair whoever opens it.
func TestPrivateRoomsAndDirectMessages(t *testing.T) {
	// Exports and analytics take a heavy-read budget of 5 a user; the
	// refusals below are 18 of them.
	s := startRealtimeDev(t, map[string]string{"CHAT_HEAVY_READ_RATE": "100", "CHAT_HEAVY_READ_BURST": "100"})
	topic := s.openRoom("lobby")
	alice, bob, eve := s.member(topic, "alice"), s.member(topic, "bob"), s.member(topic, "eve")

	var priv schemas.Room
	if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", alice.Token,
		map[string]string{"title": "secret garden", "visibility": "private"}, &priv); st != http.StatusCreated || priv.Kind != schemas.RoomKindPrivate {
		t.Fatalf("create private: %d %s", st, b)
	}
	secret := s.post(priv.ID, alice, "only for friends")

	var inv struct {
		Code string `json:"code"`
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/invites", "/v1/rooms/:id/invites", alice.Token, map[string]int{"max_uses": 1}, &inv); st != http.StatusCreated {
		t.Fatalf("invite: %d %s", st, b)
	}
	accept := func(code string, u schemas.Session) (int, []byte) {
		st, _, b := s.call("POST", "/v1/invites/"+url.PathEscape(code)+"/accept", "/v1/invites/:code/accept", u.Token, nil, nil)
		return st, b
	}
	if st, b := accept(inv.Code, bob); st != http.StatusOK {
		t.Fatalf("bob accepts: %d %s", st, b)
	}
	for _, c := range []struct {
		code string
		want int
	}{{inv.Code, http.StatusConflict}, {"not-a-code", http.StatusBadRequest}, {priv.ID.String() + ".AAAAAAAAAAAAAAAAAAAAAA", http.StatusNotFound}} {
		if st, b := accept(c.code, eve); st != c.want {
			t.Fatalf("eve accepts %q: %d %s, want %d", c.code, st, b, c.want)
		}
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/join", "/v1/rooms/:id/join", eve.Token, nil, nil); st != http.StatusForbidden {
		t.Fatalf("eve joins the private room: %d %s", st, b)
	}

	var dm, again schemas.Room
	if st, _, b := s.call("POST", "/v1/dms", "/v1/dms", alice.Token, map[string]schemas.ID{"user_id": bob.UserID}, &dm); st != http.StatusCreated || dm.Kind != schemas.RoomKindDirect {
		t.Fatalf("open a DM: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/dms", "/v1/dms", bob.Token, map[string]schemas.ID{"user_id": alice.UserID}, &again); st != http.StatusOK || again.ID != dm.ID {
		t.Fatalf("the other side: %d %s, want 200 with room %d", st, b, dm.ID)
	}
	if st, _, b := s.call("POST", "/v1/dms", "/v1/dms", alice.Token, map[string]schemas.ID{"user_id": alice.UserID}, nil); st != http.StatusBadRequest {
		t.Fatalf("a DM with oneself: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/dms", "/v1/dms", alice.Token, map[string]schemas.ID{"user_id": 123456789}, nil); st != http.StatusNotFound {
		t.Fatalf("a DM with a user in no room: %d %s", st, b)
	}
	whisper := s.post(dm.ID, bob, "psst")

	// Members read both everywhere.
	for room, body := range map[schemas.ID]string{priv.ID: secret.Body, dm.ID: whisper.Body} {
		eventually(t, "members read history", func() error {
			st, _, b := s.call("GET", roomPath(room)+"/messages", "/v1/rooms/:id/messages", bob.Token, nil, nil)
			if st != http.StatusOK || !bytes.Contains(b, []byte(body)) {
				return fmt.Errorf("history of %d for bob: %d %s", room, st, b)
			}
			return nil
		})
		if p := dialRT(t, "bob", s.base, room, bob, -1, nil).presence(); len(p.Members) != 2 {
			t.Fatalf("bob's presence in %d: %s", room, p)
		}
	}

	// Anyone else: 403 from every read path and the socket.
	from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	to := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, room := range []schemas.ID{priv.ID, dm.ID} {
		id := room.String()
		paths := [][2]string{
			{roomPath(room), "/v1/rooms/:id"},
			{roomPath(room) + "/messages", "/v1/rooms/:id/messages"},
			{roomPath(room) + "/messages/export", "/v1/rooms/:id/messages/export"},
			{roomPath(room) + "/timeline", "/v1/rooms/:id/timeline"},
			{"/v1/analytics/activity?bucket=minute&room=" + id + "&from=" + from + "&to=" + to, "/v1/analytics/activity"},
			{"/v1/analytics/top-senders?room=" + id + "&from=" + from + "&to=" + to, "/v1/analytics/top-senders"},
		}
		for _, who := range []struct {
			name, token string
		}{{"eve", eve.Token}, {"anonymous", ""}, {"the admin", e2eAdmin}} {
			for _, p := range paths {
				if st, _, b := s.call("GET", p[0], p[1], who.token, nil, nil); st != http.StatusForbidden {
					t.Errorf("%s: GET %s: %d %s, want 403", who.name, p[0], st, b)
				}
			}
		}
		for _, since := range []int64{-1, 0} { // a fresh socket and a resume
			if st := refusedDial(t, s.base, room, eve.Token, since); st != http.StatusForbidden {
				t.Errorf("eve's socket to %d (since %d): %d, want 403", room, since, st)
			}
		}
	}

	// Never listed, and nobody left the lobby.
	for _, q := range []string{"", "?q=secret", "?sort=new", "?mine=true"} {
		var list struct {
			Rooms []schemas.Room `json:"rooms"`
		}
		s.call("GET", "/v1/rooms"+q, "/v1/rooms", alice.Token, nil, &list)
		for _, r := range list.Rooms {
			if r.ID == priv.ID || r.ID == dm.ID || r.Kind != "" {
				t.Fatalf("GET /v1/rooms%s lists %+v", q, r)
			}
		}
	}
	lobby := func() ([]schemas.Member, error) {
		var r schemas.Room
		if st, _, b := s.call("GET", roomPath(topic), "/v1/rooms/:id", eve.Token, nil, &r); st != http.StatusOK {
			return nil, fmt.Errorf("lobby: %d %s", st, b)
		}
		return *r.Members, nil
	}
	time.Sleep(2 * time.Second) // a switch-leave would have been appended by now
	if m, err := lobby(); err != nil || len(m) != 3 {
		t.Fatalf("the lobby's members after the private room and the DM: %v %v", m, err)
	}
	s.post(topic, alice, "still here")
	s.post(topic, bob, "me too")

	// The site-wide figures leave the private rooms out: bob's DM message
	// was in the history before his lobby message, yet he counts one.
	eventually(t, "bob's site-wide count", func() error {
		var top struct {
			Senders []struct {
				UserID   schemas.ID `json:"user_id"`
				Messages int64      `json:"messages"`
			} `json:"senders"`
		}
		if st, _, b := s.call("GET", "/v1/analytics/top-senders?from="+from+"&to="+to, "/v1/analytics/top-senders", eve.Token, nil, &top); st != http.StatusOK {
			return fmt.Errorf("top senders: %d %s", st, b)
		}
		for _, x := range top.Senders {
			if x.UserID == bob.UserID {
				if x.Messages != 1 {
					t.Fatalf("bob counts %d site-wide messages, want 1 (his DM is private)", x.Messages)
				}
				return nil
			}
		}
		return fmt.Errorf("bob not yet among %v", top.Senders)
	})

	conversations := func(u schemas.Session) (string, error) {
		var c struct {
			Conversations []schemas.Room `json:"conversations"`
		}
		if st, _, b := s.call("GET", "/v1/conversations", "/v1/conversations", u.Token, nil, &c); st != http.StatusOK {
			return "", fmt.Errorf("conversations: %d %s", st, b)
		}
		var ids []string
		for _, r := range c.Conversations {
			ids = append(ids, fmt.Sprint(r.ID, r.Kind, len(*r.Members)))
		}
		slices.Sort(ids)
		return fmt.Sprint(ids), nil
	}
	var before string
	w := []string{fmt.Sprint(priv.ID, "private", 2), fmt.Sprint(dm.ID, "direct", 2)}
	slices.Sort(w)
	want := fmt.Sprint(w)
	eventually(t, "bob's conversations", func() error {
		got, err := conversations(bob)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("bob's conversations %s, want %s", got, want)
		}
		before = got
		return nil
	})
	if got, err := conversations(eve); err != nil || got != "[]" {
		t.Fatalf("eve's conversations: %s %v", got, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := runTool(ctx, s.env, "replay", "--view", "rooms"); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if got, err := conversations(bob); err != nil || got != before {
		t.Fatalf("bob's conversations after replay: %s (%v), before %s", got, err, before)
	}
	if m, err := lobby(); err != nil || len(m) != 3 {
		t.Fatalf("the lobby's members after replay: %v %v", m, err)
	}
}

// refusedDial dials a socket that must be refused and returns the status of
// the refusal (0 if it was accepted).
func refusedDial(t *testing.T, base string, room schemas.ID, tok string, since int64) int {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(rtWSURL(base, room, tok, since), nil)
	if err == nil {
		_ = ws.Close()
		return 0
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
