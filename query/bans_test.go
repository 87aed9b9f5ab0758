package query

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"happychat/schemas"
)

// TestBansOnlyForModerators: GET /v1/rooms/{id}/bans lists the users whose
// latest ban of the room is not lifted (a ban, an unban, a ban again
// counts once; a lifted ban not at all), newest first, to the creator of
// a private room and to admins; a member who is not the owner, a topic
// room's user, an anonymous caller, a bad id and an unknown room are
// refused (docs/hostile-inputs.md).
func TestBansOnlyForModerators(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const owner, member, bannedTwice, lifted, stranger schemas.ID = 11, 12, 13, 14, 15
	room := e.addRoom("garden", schemas.RoomStatusOpen, owner, at)
	if _, err := e.pg.Exec(ctx, `UPDATE rooms SET kind = 'private' WHERE room_id = $1`, int64(room)); err != nil {
		t.Fatal(err)
	}
	topic := e.addRoom("lobby", schemas.RoomStatusOpen, 0, at)
	e.addMember(room, owner, "owner", at)
	e.addMember(room, member, "member", at)
	e.addMember(topic, member, "member", at)
	if _, err := e.pg.Exec(ctx, `INSERT INTO users (user_id, nickname, registered_at) VALUES ($1, '하늘', $2)`, int64(bannedTwice), at); err != nil {
		t.Fatal(err)
	}
	mod := func(user schemas.ID, action string, by *int64, nick, reason string, minutes int) {
		t.Helper()
		when := at.Add(time.Duration(minutes) * time.Minute)
		if _, err := e.pg.Exec(ctx, `INSERT INTO moderation (room_id, event_id, seq, action, user_id, by_user, by_nickname, nickname, reason, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, int64(room), int64(e.newID(when)), e.nextSeq(room), action, int64(user), by,
			map[bool]string{true: "owner"}[by != nil], nick, reason, when); err != nil {
			t.Fatal(err)
		}
	}
	o := int64(owner)
	mod(bannedTwice, "banned", &o, "old name", "spam", 1)
	mod(lifted, "banned", nil, "", "", 2)
	mod(bannedTwice, "unbanned", &o, "", "", 3)
	mod(lifted, "unbanned", nil, "", "", 4)
	mod(bannedTwice, "banned", nil, "", "again", 5)
	mod(stranger, "banned", &o, "stranger", "", 6)
	mod(member, "removed", &o, "member", "", 7)

	path := "/v1/rooms/" + room.String() + "/bans"
	for _, tok := range []string{e.userToken(owner), testAdmin} {
		r := e.get(path, tok)
		wantStatus(t, r, http.StatusOK)
		got := decode[struct {
			Bans []Ban `json:"bans"`
		}](t, r).Bans
		if len(got) != 2 || got[0].UserID != stranger || got[0].Nickname != "stranger" || got[0].By != owner || got[0].ByNickname != "owner" ||
			got[1].UserID != bannedTwice || got[1].Nickname != "하늘" || got[1].By != 0 || got[1].Reason != "again" {
			t.Fatalf("bans %+v: want the stranger (by the owner), then 하늘 (by an admin, \"again\")", got)
		}
	}
	for _, c := range []struct {
		name, path, tok string
		status          int
		code            schemas.Code
	}{
		{"a member who is not the owner", path, e.userToken(member), http.StatusForbidden, schemas.CodeForbidden},
		{"a stranger", path, e.userToken(stranger), http.StatusForbidden, schemas.CodeForbidden},
		{"a topic room's member", "/v1/rooms/" + topic.String() + "/bans", e.userToken(member), http.StatusForbidden, schemas.CodeForbidden},
		{"anonymous", path, "", http.StatusUnauthorized, schemas.CodeUnauthorized},
		{"a bad id", "/v1/rooms/abc/bans", e.userToken(owner), http.StatusBadRequest, schemas.CodeBadRequest},
		{"an unknown room", "/v1/rooms/123456789/bans", testAdmin, http.StatusNotFound, schemas.CodeNotFound},
	} {
		r := e.get(c.path, c.tok)
		if r.status != c.status || !bytes.Contains(r.body, []byte(`"code":"`+string(c.code)+`"`)) {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.status, truncate(r.body), c.status, c.code)
		}
	}
	// The topic room's bans are the admins'.
	wantStatus(t, e.get("/v1/rooms/"+topic.String()+"/bans", testAdmin), http.StatusOK)
}
