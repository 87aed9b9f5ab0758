package schemas

import (
	"strings"
	"testing"
)

// TestModerationEventRules: the level-5 events' rules hold at both ends of
// the log (Encode refuses what Decode would dead-letter).
func TestModerationEventRules(t *testing.T) {
	pair := DirectRoomID(sampleUser, sampleOther)
	env := func(room ID, user ID, p Event) Envelope {
		return Envelope{ID: sampleEventID, RoomID: room, UserID: user, Seq: 2, OccurredAt: sampleTime, Payload: p}
	}
	filed := ReportFiled{MessageID: sampleMessage, MessageSeq: 3, AuthorID: sampleUser, AuthorNickname: "a", Nickname: "b", Reason: "spam"}
	withNote := filed
	withNote.Note = strings.Repeat("가", MaxReportNote+1)
	badReason := filed
	badReason.Reason = "boring"
	cases := []struct {
		name string
		env  Envelope
		ok   bool
	}{
		{"block", env(pair, sampleUser, BlockAdded{Blocked: sampleOther, Nickname: "nemo"}), true},
		{"block in another room", env(sampleRoom, sampleUser, BlockAdded{Blocked: sampleOther, Nickname: "nemo"}), false},
		{"block oneself", env(DirectRoomID(sampleUser, sampleUser), sampleUser, BlockAdded{Blocked: sampleUser, Nickname: "me"}), false},
		{"block without a nickname", env(pair, sampleUser, BlockAdded{Blocked: sampleOther}), false},
		{"unblock in another room", env(sampleRoom, sampleUser, BlockRemoved{Blocked: sampleOther}), false},
		{"report", env(sampleRoom, sampleOther, filed), true},
		{"report with an oversized note", env(sampleRoom, sampleOther, withNote), false},
		{"report with a bad reason", env(sampleRoom, sampleOther, badReason), false},
		{"report without a reporter", env(sampleRoom, 0, filed), false},
		{"resolution", env(sampleRoom, 0, ReportResolved{ReportID: sampleEventID, MessageID: sampleMessage, Outcome: "dismissed"}), true},
		{"resolution with a bad outcome", env(sampleRoom, 0, ReportResolved{ReportID: sampleEventID, MessageID: sampleMessage, Outcome: "ban"}), false},
		{"resolution of no report", env(sampleRoom, 0, ReportResolved{MessageID: sampleMessage, Outcome: "deleted"}), false},
	}
	for _, c := range cases {
		if _, err := Events.Encode(c.env); (err == nil) != c.ok {
			t.Errorf("%s: Encode = %v, want ok %v", c.name, err, c.ok)
		}
	}
}
