package schemas

import (
	"flag"
	"reflect"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Fixed ids of the samples: realistic snowflakes, all above 2^53 so that a
// JSON number anywhere would show up as corruption.
const (
	sampleUser    ID = 1995793265123459072
	sampleOther   ID = 1995793265123459073
	sampleRoom    ID = 1995793265127653376
	sampleRoom2   ID = 1995793265127653377
	sampleEventID ID = 1995793265131847680
	sampleJoinID  ID = 1995793265131847681
	sampleMessage ID = 1995793265136041984
)

// sampleSealed is n bytes counting up from b, a stand-in ciphertext.
func sampleSealed(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b + byte(i)
	}
	return out
}

var sampleTime = time.Date(2026, 11, 22, 21, 21, 13, 123_000_000, time.UTC)

// samples is one representative envelope per registered event type, in its
// current version. A type added to the registry without a sample here fails
// TestEveryTypeHasSchemaAndGolden.
func samples() map[string]Envelope {
	env := func(p Event) Envelope {
		return Envelope{ID: sampleEventID, OccurredAt: sampleTime, Payload: p}
	}
	m := map[string]Envelope{}
	add := func(e Envelope) { m[e.Payload.EventType()] = e }

	e := env(UserRegistered{Nickname: "toracle 🐱"})
	e.ID, e.UserID = sampleUser, sampleUser
	e.CorrelationID = "req-7f3a"
	add(e)

	e = env(RoomCreated{Title: "Happy cats", Description: "고양이 사진 환영 😺"})
	e.RoomID, e.Seq = sampleRoom, 1
	add(e)

	e = env(RoomProposed{Title: "Dogs too", Description: ""})
	e.RoomID, e.UserID, e.Seq = sampleRoom2, sampleUser, 1
	add(e)

	e = env(RoomApproved{})
	e.RoomID, e.Seq = sampleRoom2, 2
	e.CorrelationID = "req-approve-1"
	add(e)

	e = env(RoomJoined{Nickname: "toracle 🐱"})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleJoinID, sampleRoom, sampleUser, 2
	add(e)

	e = env(RoomLeft{Reason: LeftReasonSwitched, Nickname: "toracle 🐱", SwitchedTo: sampleRoom2, JoinID: sampleJoinID})
	e.RoomID, e.UserID, e.Seq = sampleRoom, sampleUser, 4
	e.CorrelationID, e.CausationID = "req-join-2", sampleJoinID.String()
	add(e)

	// Sealed texts: any bytes of the right length (encryption is
	// internal/msgkeys's; the schema only carries them).
	e = env(MessageSent{Sealed: &Sealed{KeyID: "k1GQ2xg5v8Wb2c7Hd0Rz1A", Ciphertext: sampleSealed(0x11, 61)},
		ClientMsgID: "0b7e1c9a-5d43-4c1f-9c55-3f0f6f1a2b3c", Nickname: "toracle 🐱",
		ReplyTo: &ReplyTo{MessageID: sampleEventID, UserID: sampleOther, Nickname: "nemo",
			PreviewSealed: &Sealed{KeyID: "k9Zt0Qf3mL1pX8cV4bN6sA", Ciphertext: sampleSealed(0x22, 40)}},
		Mentions: []ID{sampleOther}})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleMessage, sampleRoom, sampleUser, 3
	e.CorrelationID = "req-send-9"
	add(e)

	e = env(MessageEdited{MessageID: sampleMessage, Sealed: &Sealed{KeyID: "k4Rr7Yw2nB5tE0uJ3hG8dQ", Ciphertext: sampleSealed(0x33, 50)}})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleEventID+10, sampleRoom, sampleUser, 4
	add(e)

	e = env(ReactionAdded{MessageID: sampleMessage, Emoji: "👍🏽"})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleEventID+11, sampleRoom, sampleOther, 5
	add(e)

	e = env(ReactionRemoved{MessageID: sampleMessage, Emoji: "👍🏽"})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleEventID+12, sampleRoom, sampleOther, 6
	add(e)

	e = env(MessageDeleted{MessageID: sampleMessage, AuthorID: sampleUser, Nickname: "toracle 🐱", MessageSeq: 3, SentAt: "2026-11-22T21:21:13.123Z"})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleEventID+13, sampleRoom, sampleUser, 7
	add(e)

	e = env(ReadMarkMoved{UpTo: sampleMessage})
	e.RoomID, e.UserID, e.Seq = sampleRoom, sampleOther, 8
	add(e)

	e = env(RoomRejected{Reason: "비슷한 방이 이미 있어요 — a similar room is open"})
	e.RoomID, e.Seq = sampleRoom2, 2
	e.CorrelationID = "req-reject-1"
	add(e)

	e = env(SessionRevoked{SessionID: "q7Vx2m0bQzK9yR4tWc8eLg", ExpiresAt: "2026-12-22T21:21:13.123Z"})
	e.UserID = sampleUser
	add(e)

	e = env(UserRenamed{Nickname: "하늘이 ☁️", Previous: "toracle 🐱"})
	e.UserID = sampleUser
	e.CorrelationID = "req-rename-1"
	add(e)

	e = env(MemberRenamed{Nickname: "하늘이 ☁️", Previous: "toracle 🐱"})
	e.RoomID, e.UserID, e.Seq = sampleRoom, sampleUser, 5
	e.CorrelationID = "req-rename-1"
	add(e)

	e = env(ConversationCreated{Kind: RoomKindDirect, Peer: sampleOther})
	e.RoomID, e.UserID, e.Seq = DirectRoomID(sampleUser, sampleOther), sampleUser, 1
	e.CorrelationID = "req-dm-1"
	add(e)

	e = env(MemberAdded{Nickname: "nemo", By: sampleUser, Invite: sampleEventID + 20})
	e.RoomID, e.UserID, e.Seq = sampleRoom2, sampleOther, 3
	add(e)

	e = env(InviteCreated{CodeHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ExpiresAt: "2026-11-23T21:21:13.123Z", MaxUses: 5})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleEventID+20, sampleRoom2, sampleUser, 2
	add(e)

	e = env(MemberRemoved{Nickname: "nemo", By: sampleUser, ByNickname: "toracle 🐱", Reason: "스팸 — spam"})
	e.RoomID, e.UserID, e.Seq = sampleRoom2, sampleOther, 4
	e.CorrelationID = "req-kick-1"
	add(e)

	e = env(MemberBanned{Nickname: "nemo", Member: true, Reason: "repeated spam"})
	e.RoomID, e.UserID, e.Seq = sampleRoom, sampleOther, 6
	e.CorrelationID = "req-ban-1"
	add(e)

	e = env(MemberUnbanned{By: sampleUser, ByNickname: "toracle 🐱"})
	e.RoomID, e.UserID, e.Seq = sampleRoom2, sampleOther, 5
	add(e)

	e = env(RoomClosed{Reason: "the event is over"})
	e.RoomID, e.Seq = sampleRoom, 7
	e.CorrelationID = "req-close-1"
	add(e)

	e = env(BlockAdded{Blocked: sampleOther, Nickname: "nemo"})
	e.RoomID, e.UserID, e.Seq = DirectRoomID(sampleUser, sampleOther), sampleUser, 2
	add(e)

	e = env(BlockRemoved{Blocked: sampleOther})
	e.RoomID, e.UserID, e.Seq = DirectRoomID(sampleUser, sampleOther), sampleUser, 3
	add(e)

	e = env(ReportFiled{MessageID: sampleMessage, MessageSeq: 3, AuthorID: sampleUser, AuthorNickname: "toracle 🐱",
		Nickname: "nemo", Reason: ReportReasonSpam, Note: "링크만 계속 올려요"})
	e.ID, e.RoomID, e.UserID, e.Seq = sampleEventID+30, sampleRoom, sampleOther, 5
	add(e)

	e = env(ReportResolved{ReportID: sampleEventID + 30, MessageID: sampleMessage, Outcome: ReportOutcomeDeleted, Erased: true})
	e.RoomID, e.Seq = sampleRoom, 7
	e.CorrelationID = "req-resolve-1"
	add(e)

	// Decode reports the registry's names and versions; so do the samples.
	for typ, e := range m {
		e.Type, e.Version = typ, Events.Version(typ)
		m[typ] = e
	}
	return m
}

// sameEnvelope compares envelopes field by field (times with Equal).
func sameEnvelope(a, b Envelope) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Version == b.Version &&
		a.RoomID == b.RoomID && a.UserID == b.UserID && a.Seq == b.Seq &&
		a.OccurredAt.Equal(b.OccurredAt) &&
		a.CorrelationID == b.CorrelationID && a.CausationID == b.CausationID &&
		reflect.DeepEqual(a.Payload, b.Payload)
}
