package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"happychat/query"
	"happychat/schemas"
)

// TestRenameReachesEveryRoom on happychat dev (the real servers): a user
// who is a member of a topic room, a private room and a direct message
// renames; the members of all three (GET /v1/rooms/{id}) and their
// timelines (a member_renamed item) show the new name.
func TestRenameReachesEveryRoom(t *testing.T) {
	s := startRealtimeDev(t, nil)
	topic := s.openRoom("rename lobby")
	alice, bob := s.member(topic, "alice"), s.member(topic, "bob")

	var priv, dm schemas.Room
	if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", bob.Token,
		map[string]string{"title": "rename garden", "visibility": "private"}, &priv); st != http.StatusCreated {
		t.Fatalf("create private: %d %s", st, b)
	}
	var inv struct {
		Code string `json:"code"`
	}
	if st, _, b := s.call("POST", roomPath(priv.ID)+"/invites", "/v1/rooms/:id/invites", bob.Token, map[string]int{"max_uses": 1}, &inv); st != http.StatusCreated {
		t.Fatalf("invite: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/invites/"+url.PathEscape(inv.Code)+"/accept", "/v1/invites/:code/accept", alice.Token, nil, nil); st != http.StatusOK {
		t.Fatalf("alice accepts: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/dms", "/v1/dms", bob.Token, map[string]schemas.ID{"user_id": alice.UserID}, &dm); st != http.StatusCreated {
		t.Fatalf("open a DM: %d %s", st, b)
	}

	// bob's socket in the topic room replays its joins and sees the
	// rename live: each line must carry the time the timeline gives it.
	watch := dialRT(t, "watch", s.base, topic, bob, 0, nil)
	watch.presence()

	var renamed schemas.Session
	if st, _, b := s.call("PATCH", "/v1/sessions/current", "/v1/sessions/current", alice.Token,
		map[string]string{"nickname": "앨리스"}, &renamed); st != http.StatusOK {
		t.Fatalf("rename: %d %s", st, b)
	}
	for _, room := range []schemas.ID{topic, priv.ID, dm.ID} {
		eventually(t, fmt.Sprintf("room %d shows the new name", room), func() error {
			var r struct {
				Members []schemas.Member `json:"members"`
			}
			if st, _, b := s.call("GET", roomPath(room), "/v1/rooms/:id", bob.Token, nil, &r); st != http.StatusOK {
				return fmt.Errorf("room: %d %s", st, b)
			}
			if nick := memberNick(r.Members, alice.UserID); nick != renamed.Nickname {
				return fmt.Errorf("members %+v name alice %q", r.Members, nick)
			}
			var tl struct {
				Items []query.TimelineItem `json:"items"`
			}
			if st, _, b := s.call("GET", roomPath(room)+"/timeline", "/v1/rooms/:id/timeline", bob.Token, nil, &tl); st != http.StatusOK {
				return fmt.Errorf("timeline: %d %s", st, b)
			}
			for _, it := range tl.Items {
				if it.Type == "member_renamed" && it.UserID == alice.UserID && it.Nickname != nil && *it.Nickname == renamed.Nickname {
					return nil
				}
			}
			return fmt.Errorf("no member_renamed of alice in the timeline %+v", tl.Items)
		})
	}

	var tl struct {
		Items []query.TimelineItem `json:"items"`
	}
	if st, _, b := s.call("GET", roomPath(topic)+"/timeline", "/v1/rooms/:id/timeline", bob.Token, nil, &tl); st != http.StatusOK {
		t.Fatalf("timeline: %d %s", st, b)
	}
	at := map[int64]string{}
	var last int64
	for _, it := range tl.Items {
		if it.Type != "message" {
			at[it.Seq] = it.At
			last = max(last, it.Seq)
		}
	}
	events, _ := watch.eventsUntil(last, 20*time.Second)
	lines := 0
	for _, f := range events {
		if f.Type == "message" {
			continue
		}
		lines++
		if f.At == "" || f.At != at[f.Seq] {
			t.Errorf("%s frame at seq %d says at %q, the timeline %q", f.Type, f.Seq, f.At, at[f.Seq])
		}
	}
	if lines < 3 { // two joins and the rename
		t.Fatalf("only %d member frames up to seq %d: %v", lines, last, events)
	}
}
