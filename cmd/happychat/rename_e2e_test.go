package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/internal/wstest"
	"happychat/schemas"
)

// TestRenameKeepsTheUser: PATCH /v1/sessions/current on happychat dev
// renames a member without making a new user. The answer keeps the user
// id with a new token; the old token is refused by every service once
// revoked; a watcher's socket sees member_renamed at the room's next seq;
// the room's members, a new socket's presence and the renamed user's own
// sends show the new name, while history keeps each message's name at send
// time; and `happychat replay` rebuilds the same members view.
func TestRenameKeepsTheUser(t *testing.T) {
	s := startRealtimeDev(t, nil)
	room := s.openRoom("renames")
	renamer := s.member(room, "하늘이")
	watcher := s.member(room, "watcher")
	before := s.post(room, renamer, "before the rename")
	w := dialRT(t, "watcher", s.base, room, watcher, before.Seq, nil)
	w.presence()

	var renamed schemas.Session
	if st, _, b := s.call("PATCH", "/v1/sessions/current", "/v1/sessions/current", renamer.Token,
		map[string]string{"nickname": "  구름이 ☁️ "}, &renamed); st != http.StatusOK {
		t.Fatalf("rename: %d %s", st, b)
	}
	if renamed.UserID != renamer.UserID || renamed.Nickname != "구름이 ☁️" || renamed.Token == renamer.Token || renamed.Token == "" {
		t.Fatalf("rename answered %+v: want user %d, nickname 구름이 ☁️, a new token", renamed, renamer.UserID)
	}

	events, _ := w.eventsUntil(before.Seq+1, 30*time.Second)
	f := events[len(events)-1]
	if f.Type != wstest.TypeRenamed || f.UserID != renamer.UserID || f.Nickname != renamed.Nickname || f.Previous != "하늘이" || f.Seq != before.Seq+1 {
		t.Fatalf("watcher got %s, want member_renamed of %d to 구름이 ☁️ (previous 하늘이) at seq %d", f, renamer.UserID, before.Seq+1)
	}

	// The old token is revoked everywhere; the new one works without a
	// new join: the user is still the room's member.
	eventually(t, "the old token refused", func() error {
		st, _, b := s.call("POST", roomPath(room)+"/messages", "/v1/rooms/:id/messages", renamer.Token,
			map[string]string{"body": "old token", "client_msg_id": "old-token"}, nil)
		if st != http.StatusUnauthorized {
			return fmt.Errorf("send with the old token: %d %s", st, b)
		}
		if st, _, b := s.call("GET", "/v1/rooms", "/v1/rooms", renamer.Token, nil, nil); st != http.StatusUnauthorized {
			return fmt.Errorf("query with the old token: %d %s", st, b)
		}
		return nil
	})
	after := s.post(room, renamed, "after the rename")
	if after.UserID != renamer.UserID || after.Nickname != renamed.Nickname {
		t.Fatalf("sent after the rename: %+v", after)
	}
	if events, _ := w.eventsUntil(after.Seq, 30*time.Second); events[len(events)-1].Message == nil || events[len(events)-1].Message.Nickname != renamed.Nickname {
		t.Fatalf("watcher: the message after the rename is %s", events[len(events)-1])
	}
	p := dialRT(t, "renamed", s.base, room, renamed, -1, nil).presence()
	if nick := memberNick(p.Members, renamer.UserID); nick != renamed.Nickname {
		t.Fatalf("presence after the rename names the user %q: %s", nick, p)
	}

	members := func() ([]schemas.Member, error) {
		var r struct {
			Members []schemas.Member `json:"members"`
		}
		if st, _, b := s.call("GET", roomPath(room), "/v1/rooms/:id", watcher.Token, nil, &r); st != http.StatusOK {
			return nil, fmt.Errorf("room: %d %s", st, b)
		}
		slices.SortFunc(r.Members, func(a, b schemas.Member) int { return strings.Compare(a.UserID.String(), b.UserID.String()) })
		return r.Members, nil
	}
	var view []schemas.Member
	eventually(t, "the members view follows", func() error {
		m, err := members()
		if err != nil {
			return err
		}
		if nick := memberNick(m, renamer.UserID); nick != renamed.Nickname || len(m) != 2 {
			return fmt.Errorf("members %+v: the renamed user is %q", m, nick)
		}
		view = m
		return nil
	})
	eventually(t, "history keeps the name at send time", func() error {
		msgs, err := s.history(room, before.ID-1)
		if err != nil {
			return err
		}
		got := map[schemas.ID]string{}
		for _, m := range msgs {
			got[m.ID] = m.Nickname
		}
		if got[before.ID] != "하늘이" || got[after.ID] != renamed.Nickname {
			return fmt.Errorf("history names %q before and %q after the rename", got[before.ID], got[after.ID])
		}
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := runTool(ctx, s.env, "replay", "--view", "rooms"); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	got, err := members()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(view) {
		t.Fatalf("members after replay %+v, before %+v", got, view)
	}
}

func memberNick(ms []schemas.Member, u schemas.ID) string {
	for _, m := range ms {
		if m.UserID == u {
			return m.Nickname
		}
	}
	return ""
}
