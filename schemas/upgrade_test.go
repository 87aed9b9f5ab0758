package schemas

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// messagePinned is a hypothetical event type that a newer build introduces.
type messagePinned struct {
	Text string `json:"text"`
}

func (messagePinned) EventType() string { return "message.pinned" }

// testRegistryNewer is the registry of a hypothetical next build: message.sent
// at v4 (level 3, its v2 at level 2) and a new type message.pinned (level 2).
func testRegistryNewer() *Registry {
	r := &Registry{}
	Define[messageSentV2](r, 4, ScopeRoom, nil, AtLevel(3), VersionAtLevel(2, 2))
	r.AddUpcaster(TypeMessageSent, 1, upcastHypotheticalV1)
	// Its v2 is the hypothetical one with format; v3 and v4 add nothing.
	r.AddUpcaster(TypeMessageSent, 2, func(v jsontext.Value) (jsontext.Value, error) { return v, nil })
	r.AddUpcaster(TypeMessageSent, 3, func(v jsontext.Value) (jsontext.Value, error) { return v, nil })
	Define[messagePinned](r, 1, ScopeRoom, needUser, AtLevel(2))
	return r
}

// TestDecodeUnknownEvent: records a newer build wrote are told apart from
// malformed ones.
func TestDecodeUnknownEvent(t *testing.T) {
	newer := testRegistryNewer()
	encode := func(p Event) string {
		t.Helper()
		env := samples()[TypeMessageSent]
		env.Payload = p
		b, err := newer.Encode(env)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sentV2 := encode(messageSentV2{Text: "hi", ClientMsgID: "c1", Nickname: "n", Format: "markdown"})
	edited := encode(messagePinned{Text: "hi again"})
	if !strings.Contains(sentV2, `"version":4`) || !strings.Contains(edited, `"type":"message.pinned"`) {
		t.Fatalf("newer registry wrote %s and %s", sentV2, edited)
	}

	cases := []struct {
		name    string
		in      string
		unknown bool  // wraps ErrUnknownEvent
		is      error // must wrap this too
	}{
		{"new type", edited, true, ErrUnknownType},
		{"known type, newer version", sentV2, true, ErrUnknownVersion},
		{"new type, any version", strings.Replace(edited, `"version":1`, `"version":7`, 1), true, ErrUnknownType},
		{"malformed JSON", `{"id":"1","type":"message.pinned"`, false, nil},
		{"new type, trailing data", edited + "x", false, nil},
		{"new type, unknown envelope member", strings.Replace(edited, `"seq":3`, `"seq":3,"x":1`, 1), false, nil},
		{"type missing", strings.Replace(strictBase, `"type":"message.sent",`, ``, 1), false, ErrUnknownType},
		{"version 0", strings.Replace(strictBase, `"version":1`, `"version":0`, 1), false, ErrUnknownVersion},
		{"version negative", strings.Replace(strictBase, `"version":1`, `"version":-2`, 1), false, ErrUnknownVersion},
		{"known version, bad payload", strings.Replace(strictBase, `"text":"hi"`, `"text":42`, 1), false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Events.Decode([]byte(c.in))
			if err == nil {
				t.Fatal("Decode accepted it")
			}
			if !errors.Is(err, ErrDecode) {
				t.Errorf("%v does not wrap ErrDecode", err)
			}
			if got := errors.Is(err, ErrUnknownEvent); got != c.unknown {
				t.Errorf("errors.Is(%v, ErrUnknownEvent) = %v, want %v", err, got, c.unknown)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("%v does not wrap %v", err, c.is)
			}
		})
	}

	// The newer build itself reads both.
	for _, in := range []string{sentV2, edited, strictBase} {
		if _, err := newer.Decode([]byte(in)); err != nil {
			t.Errorf("newer build: %v", err)
		}
	}
}

func TestLevelOfAndCheckEmit(t *testing.T) {
	r := testRegistryNewer()
	Define[RoomJoined](r, 1, ScopeRoom, needUser) // no option: level 1
	// message.sent v3 at level 3, after v2 at level 2.
	Define[messageSentV3](r, 3, ScopeRoom, nil, AtLevel(3), VersionAtLevel(2, 2))

	levels := []struct {
		typ     string
		version int
		want    int
	}{
		{TypeRoomJoined, 1, 1},
		{"message.pinned", 1, 2},
		{TypeMessageSent, 3, 3},
		{TypeMessageSent, 2, 2},
		{TypeMessageSent, 1, 1},
		{TypeMessageSent, 4, 0},
		{TypeMessageSent, 0, 0},
		{"message.starred", 1, 0},
		{"", 1, 0},
	}
	for _, c := range levels {
		if got := r.LevelOf(c.typ, c.version); got != c.want {
			t.Errorf("LevelOf(%q, %d) = %d, want %d", c.typ, c.version, got, c.want)
		}
	}

	emits := []struct {
		typ     string
		cluster int
		want    error // nil: allowed
	}{
		{TypeRoomJoined, 1, nil},
		{"message.pinned", 1, ErrFeatureDisabled},
		{"message.pinned", 2, nil},
		{"message.pinned", 3, nil},
		{TypeMessageSent, 2, ErrFeatureDisabled}, // the current version is at 3
		{TypeMessageSent, 3, nil},
		{TypeRoomJoined, 0, ErrFeatureDisabled},
		{"message.starred", 9, ErrUnknownType},
	}
	for _, c := range emits {
		t.Run(fmt.Sprintf("%s at %d", c.typ, c.cluster), func(t *testing.T) {
			err := r.CheckEmit(c.typ, c.cluster)
			if c.want == nil {
				if err != nil {
					t.Fatalf("CheckEmit = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("CheckEmit = %v, want %v", err, c.want)
			}
			if !errors.Is(c.want, ErrFeatureDisabled) && errors.Is(err, ErrFeatureDisabled) {
				t.Errorf("an unknown type is reported as a disabled feature: %v", err)
			}
		})
	}
}

// TestEventsLevels pins the feature level of every production event. A new
// event type or version fails here until it is listed: register it at
// FeatureLevel+1 and raise FeatureLevel in the same build (see FeatureLevel).
func TestEventsLevels(t *testing.T) {
	want := map[string]int{
		TypeUserRegistered: 1,
		TypeRoomCreated:    1,
		TypeRoomProposed:   1,
		TypeRoomApproved:   1,
		TypeRoomJoined:     1,
		TypeRoomLeft:       1,
		TypeMessageSent:    4, // v3; v2 at 3 and v1 at 1, written through the downcasters
		TypeReadMarkMoved:  5, // v2, a room event; v1 (users topic) at 1 through the downcaster
		TypeSessionRevoked: 2,
		TypeRoomRejected:   3,
		TypeUserRenamed:    3,
		TypeMemberRenamed:  3,

		TypeMessageEdited:          4,
		TypeMessageDeleted:         3,
		TypeMessageReactionAdded:   3,
		TypeMessageReactionRemoved: 3,

		TypeConversationCreated: 4,
		TypeMemberAdded:         4,
		TypeInviteCreated:       4,

		TypeMemberRemoved:  5,
		TypeMemberBanned:   5,
		TypeMemberUnbanned: 5,
		TypeRoomClosed:     5,
		TypeBlockAdded:     5,
		TypeBlockRemoved:   5,
		TypeReportFiled:    5,
		TypeReportResolved: 5,
	}
	if FeatureLevel != 6 {
		t.Errorf("FeatureLevel = %d; update this test with the events of the new level", FeatureLevel)
	}
	for _, typ := range Events.Types() {
		level := Events.LevelOf(typ, Events.Version(typ))
		w, ok := want[typ]
		if !ok {
			t.Errorf("%s v%d (level %d) is not listed here", typ, Events.Version(typ), level)
			continue
		}
		if level != w {
			t.Errorf("%s: level %d, want %d", typ, level, w)
		}
		if level < 1 || level > FeatureLevel {
			t.Errorf("%s: level %d outside 1..FeatureLevel (%d)", typ, level, FeatureLevel)
		}
		if err := Events.CheckEmit(typ, FeatureLevel); err != nil {
			t.Errorf("%s: %v at the build's own level", typ, err)
		}
	}
	if len(want) != len(Events.Types()) {
		t.Errorf("%d levels listed for %d registered types", len(want), len(Events.Types()))
	}
}

func TestRoomSeqOf(t *testing.T) {
	newer := testRegistryNewer()
	env := samples()[TypeMessageSent]
	env.Payload = messagePinned{Text: "x"}
	rec, err := newer.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   string
		room ID
		seq  int64
		ok   bool
	}{
		{"newer event", string(rec), env.RoomID, env.Seq, true},
		{"known event", strictBase, env.RoomID, env.Seq, true},
		{"no seq", strings.Replace(strictBase, `"seq":3,`, ``, 1), 0, 0, false},
		{"no room", strings.Replace(strictBase, `"room_id":"1995793265127653376",`, ``, 1), 0, 3, true},
		{"not JSON", "poison", 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			room, seq, ok := RoomSeqOf([]byte(c.in))
			if room != c.room || seq != c.seq || ok != c.ok {
				t.Errorf("RoomSeqOf = %d, %d, %v; want %d, %d, %v", room, seq, ok, c.room, c.seq, c.ok)
			}
		})
	}
}

// TestEncodeAtDowncastsMessageSent: below level 3 a plain send is written as
// message.sent v1, which older builds read; a reply or a mention cannot be.
func TestEncodeAtDowncastsMessageSent(t *testing.T) {
	env := samples()[TypeMessageSent]
	// The sample is sealed (v3): the level-3 shape is its plaintext.
	p := env.Payload.(MessageSent)
	p.Sealed, p.Text = nil, "hi"
	p.ReplyTo = &ReplyTo{MessageID: p.ReplyTo.MessageID, UserID: p.ReplyTo.UserID, Nickname: p.ReplyTo.Nickname, Preview: "who?"}
	sealed := env
	env.Payload = p
	plain := env
	p.ReplyTo, p.Mentions = nil, nil
	plain.Payload = p

	b, _, err := Events.EncodeAt(plain, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"version":1`) || strings.Contains(string(b), "reply_to") {
		t.Errorf("at level 2 a plain send was written as %s", b)
	}
	if err := validateEncoded(t, b, TypeMessageSent, 1); err != nil {
		t.Errorf("downcast record does not validate as v1: %v", err)
	}
	if err := Events.CheckEmitEvent(plain.Payload, 2); err != nil {
		t.Errorf("CheckEmitEvent(plain, 2) = %v", err)
	}
	if b, _, err = Events.EncodeAt(plain, 3); err != nil || !strings.Contains(string(b), `"version":2`) {
		t.Errorf("at level 3: %s, %v; want v2", b, err)
	}
	if b, _, err = Events.EncodeAt(env, 3); err != nil || !strings.Contains(string(b), `"version":2`) {
		t.Errorf("a plaintext reply at level 3: %s, %v; want v2", b, err)
	}
	// Sealed text needs v3, level 4; plaintext is still written as v3 there.
	for _, lvl := range []int{1, 2, 3} {
		if _, _, err := Events.EncodeAt(sealed, lvl); !errors.Is(err, ErrFeatureDisabled) {
			t.Errorf("a sealed send at level %d: %v, want ErrFeatureDisabled", lvl, err)
		}
	}
	if b, _, err = Events.EncodeAt(sealed, 4); err != nil || !strings.Contains(string(b), `"version":3`) {
		t.Errorf("a sealed send at level 4: %s, %v; want v3", b, err)
	}
	if b, _, err = Events.EncodeAt(env, 4); err != nil || !strings.Contains(string(b), `"version":3`) {
		t.Errorf("a plaintext reply at level 4: %s, %v; want v3", b, err)
	} else if err := validateEncoded(t, b, TypeMessageSent, 3); err != nil {
		t.Errorf("plaintext v3 does not validate: %v", err)
	}
	for _, lvl := range []int{1, 2} {
		if _, _, err := Events.EncodeAt(env, lvl); !errors.Is(err, ErrFeatureDisabled) {
			t.Errorf("a reply at level %d: %v, want ErrFeatureDisabled", lvl, err)
		}
		if err := Events.CheckEmitEvent(env.Payload, lvl); !errors.Is(err, ErrFeatureDisabled) {
			t.Errorf("CheckEmitEvent(reply, %d) = %v, want ErrFeatureDisabled", lvl, err)
		}
		if err := Events.CheckEmit(TypeMessageEdited, lvl); !errors.Is(err, ErrFeatureDisabled) {
			t.Errorf("CheckEmit(message.edited, %d) = %v, want ErrFeatureDisabled", lvl, err)
		}
	}
}
