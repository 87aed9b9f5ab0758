package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"happychat/query"
	"happychat/schemas"
)

// TestBanListAndUnban on happychat dev (the real servers): the owner of a
// private room bans a member; GET /v1/rooms/{id}/bans shows the ban to the
// owner and to an admin, 403 to the banned user and to another member;
// after an unban the list is empty and the user enters again.
func TestBanListAndUnban(t *testing.T) {
	s := startRealtimeDev(t, nil)
	topic := s.openRoom("ban list lobby")
	alice, bob, eve := s.member(topic, "alice"), s.member(topic, "bob"), s.member(topic, "eve")
	var priv schemas.Room
	if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", alice.Token,
		map[string]string{"title": "banlist", "visibility": "private"}, &priv); st != http.StatusCreated {
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
	bans := func(tok string) (int, []query.Ban, []byte) {
		var r struct {
			Bans []query.Ban `json:"bans"`
		}
		st, _, b := s.call("GET", roomPath(priv.ID)+"/bans", "/v1/rooms/:id/bans", tok, nil, &r)
		return st, r.Bans, b
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/ban", "/v1/rooms/:id/ban", alice.Token,
		map[string]any{"user_id": bob.UserID, "reason": "spam"}, nil); st != http.StatusOK {
		t.Fatalf("ban: %d %s", st, b)
	}
	for _, tok := range []string{alice.Token, e2eAdmin} {
		eventually(t, "the ban is listed", func() error {
			st, list, b := bans(tok)
			if st != http.StatusOK || len(list) != 1 || list[0].UserID != bob.UserID || list[0].Nickname != "bob" ||
				list[0].By != alice.UserID || list[0].Reason != "spam" {
				return fmt.Errorf("bans: %d %s", st, b)
			}
			return nil
		})
	}
	for _, u := range []schemas.Session{bob, eve} {
		if st, _, b := bans(u.Token); st != http.StatusForbidden {
			t.Fatalf("%s reads the bans: %d %s, want 403", u.Nickname, st, b)
		}
	}
	if st, b := accept(bob); st != http.StatusForbidden {
		t.Fatalf("the banned user accepts: %d %s, want 403", st, b)
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/unban", "/v1/rooms/:id/unban", alice.Token,
		map[string]any{"user_id": bob.UserID}, nil); st != http.StatusOK {
		t.Fatalf("unban: %d %s", st, b)
	}
	eventually(t, "the ban list empties", func() error {
		if st, list, b := bans(alice.Token); st != http.StatusOK || len(list) != 0 {
			return fmt.Errorf("bans: %d %s", st, b)
		}
		return nil
	})
	if st, b := accept(bob); st != http.StatusOK {
		t.Fatalf("bob accepts after the unban: %d %s", st, b)
	}
}
