package chaos

import (
	"slices"
	"testing"

	"happychat/schemas"
)

func edited(msg schemas.ID, text string) schemas.Event {
	return schemas.MessageEdited{MessageID: msg, Text: text}
}

func deleted(msg, author schemas.ID) schemas.Event {
	return schemas.MessageDeleted{MessageID: msg, AuthorID: author, Nickname: "n", MessageSeq: 4}
}

// talk is room A with ann's message 1003 (seq 4) and bob's 1004 (seq 5).
func talk() hist {
	return hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, bob, joined()).
		add(roomA, 4, ann, sent("m1")).add(roomA, 5, bob, sent("m2"))
}

func TestFoldLogChanges(t *testing.T) {
	tests := []struct {
		name   string
		events hist
		want   []string
	}{
		{"edit, react, unreact, delete", talk().add(roomA, 6, ann, edited(1003, "x")).
			add(roomA, 7, bob, schemas.ReactionAdded{MessageID: 1003, Emoji: "👍"}).
			add(roomA, 8, bob, schemas.ReactionRemoved{MessageID: 1003, Emoji: "👍"}).
			add(roomA, 9, ann, deleted(1003, ann)), nil},
		{"edit by another member", talk().add(roomA, 6, bob, edited(1003, "x")), []string{KindChange}},
		{"delete by another member", talk().add(roomA, 6, bob, deleted(1003, ann)), []string{KindChange}},
		{"delete by an admin", talk().add(roomA, 6, cat, schemas.MessageDeleted{MessageID: 1003, AuthorID: ann, ByAdmin: true}), nil},
		{"edit after the delete", talk().add(roomA, 6, ann, deleted(1003, ann)).add(roomA, 7, ann, edited(1003, "x")), []string{KindChange}},
		{"reaction to a message of another room", talk().add(roomB, 1, 0, created()).
			add(roomB, 2, bob, schemas.ReactionAdded{MessageID: 1003, Emoji: "👍"}), []string{KindChange}},
		{"edit of an unknown message", talk().add(roomA, 6, ann, edited(77, "x")), []string{KindChange}},
		{"read marks forward", talk().add(roomA, 6, ann, schemas.ReadMarkMoved{UpTo: 1003}).add(roomA, 7, ann, schemas.ReadMarkMoved{UpTo: 1004}), nil},
		{"read mark not forward", talk().add(roomA, 6, ann, schemas.ReadMarkMoved{UpTo: 1004}).add(roomA, 7, ann, schemas.ReadMarkMoved{UpTo: 1003}), []string{KindChange}},
		{"read mark of a non-member", talk().add(roomA, 6, cat, schemas.ReadMarkMoved{UpTo: 1003}), []string{KindChange}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(FoldLog(tt.events, 20).Findings); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckChanges(t *testing.T) {
	f := FoldLog(talk().add(roomA, 6, ann, edited(1003, "x")).add(roomA, 7, ann, schemas.ReadMarkMoved{UpTo: 1004}).
		add(roomA, 8, ann, schemas.ReactionAdded{MessageID: 1004, Emoji: changeEmoji}).
		add(roomA, 9, bob, deleted(1004, bob)), 20)
	if len(f.Findings) > 0 {
		t.Fatalf("the log: %v", f.Findings)
	}
	acked := func(kind string, user, msg schemas.ID, text string) Change {
		return Change{Kind: kind, Room: roomA, User: user, Message: msg, Text: text, Outcome: Acked, Statuses: []int{200}}
	}
	tests := []struct {
		name   string
		change Change
		want   []string
	}{
		{"edit in the log", acked(ChangeEdit, ann, 1003, "x"), nil},
		{"edit not in the log", acked(ChangeEdit, ann, 1003, "y"), []string{KindLost}},
		{"reaction not in the log", acked(ChangeReact, bob, 1003, ""), []string{KindLost}},
		{"reaction, message deleted since", acked(ChangeReact, ann, 1004, ""), nil},
		{"delete in the log", acked(ChangeDelete, bob, 1004, ""), nil},
		{"delete not in the log", acked(ChangeDelete, ann, 1003, ""), []string{KindLost}},
		{"change of a message not in the log", acked(ChangeEdit, ann, 99, "x"), []string{KindLost}},
		{"read mark in the log", acked(ChangeRead, ann, 1004, ""), nil},
		{"read mark behind the log's", acked(ChangeRead, ann, 1003, ""), nil},
		{"read mark not in the log", acked(ChangeRead, bob, 1003, ""), []string{KindLost}},
		{"failed and absent", Change{Kind: ChangeEdit, Room: roomA, User: ann, Message: 1003, Outcome: Failed, Statuses: []int{503, 409}}, nil},
		{"answered 500", Change{Kind: ChangeReact, Room: roomA, User: ann, Message: 1003, Outcome: Failed, Statuses: []int{500}}, []string{KindStatus}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.change
			if got := kinds(CheckChanges([]*Change{&c}, f)); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChangeKind(t *testing.T) {
	counts := map[string]int{}
	for n := changeEvery - 1; n < 100*changeEvery; n += changeEvery {
		counts[changeKind(n)]++
	}
	if counts[ChangeEdit] != 40 || counts[ChangeReact] != 40 || counts[ChangeDelete] != 20 {
		t.Fatalf("kinds over 100 changes: %v, want 40 edits, 40 reactions, 20 deletes", counts)
	}
}
