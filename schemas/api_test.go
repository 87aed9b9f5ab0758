package schemas

import (
	"strings"
	"testing"
)

// TestAPIShapes pins the JSON of the shared API shapes to the contract:
// effects is [] when none (never null), unread and members are absent unless
// set, left_room_id is null when none, ids are strings.
func TestAPIShapes(t *testing.T) {
	unread, zero := int64(4), int64(0)
	members := []Member{}
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"message without effects", Message{ID: sampleMessage, RoomID: sampleRoom, UserID: sampleUser, Body: "hi", Seq: 3},
			`{"id":"1995793265136041984","room_id":"1995793265127653376","user_id":"1995793265123459072","nickname":"","body":"hi","sent_at":"","client_msg_id":"","effects":[],"seq":3}`},
		{"room for anonymous caller", Room{ID: sampleRoom, Title: "t", Status: RoomStatusOpen, Capacity: 20},
			`{"id":"1995793265127653376","title":"t","description":"","status":"open","member_count":0,"capacity":20,"message_count":0,"last_message_at":null,"created_at":""}`},
		{"room with unread and members", Room{ID: sampleRoom, Unread: &unread, Members: &members},
			`"unread":4,"members":[]`},
		{"room with zero unread and no members", Room{Unread: &zero, Members: new([]Member)},
			`"unread":0,"members":[]`},
		{"join without previous room", JoinResult{RoomID: sampleRoom}, `{"room_id":"1995793265127653376","left_room_id":null}`},
		{"body with markup is not escaped away", Message{Body: "<b>&</b>"}, `"body":"<b>&</b>"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), c.want) {
				t.Errorf("got %s\nwant it to contain %s", b, c.want)
			}
		})
	}
}
