package schemas

import (
	"errors"
	"testing"
)

// readMarkV1 is a readmark.moved v1 record as the users topic holds them:
// v1 stays readable after v2 moved marks to the rooms topic.
const readMarkV1 = `{"id":"1995793265131847680","type":"readmark.moved","version":1,"room_id":"1995793265127653376","user_id":"1995793265123459073","occurred_at":"2026-11-22T21:21:13.123Z","payload":{"up_to":"1995793265136041984"}}`

func TestReadMarkVersions(t *testing.T) {
	env, err := Events.Decode([]byte(readMarkV1))
	if err != nil {
		t.Fatalf("v1 does not decode: %v", err)
	}
	if env.Version != 2 || env.Seq != 0 || env.Payload.(ReadMarkMoved).UpTo != 1995793265136041984 {
		t.Fatalf("v1 decoded as %+v", env)
	}
	// Below level 5 the command service writes v1 to the users topic.
	b, v, err := Events.EncodeAt(env, 4)
	if err != nil || v != 1 || string(b) != readMarkV1 {
		t.Fatalf("EncodeAt(4) = %s v%d, %v; want the v1 record", b, v, err)
	}
	// A v1 needs no seq and must not have one (it is a user event); v2 is a
	// room event and needs one.
	if _, err := Events.Encode(env); err == nil {
		t.Error("v2 without a seq encoded")
	}
	env.Seq = 3
	if _, _, err := Events.EncodeAt(env, 4); err == nil {
		t.Error("a room read mark (with a seq) was written as v1 below level 5")
	}
	if _, v, err := Events.EncodeAt(env, 5); err != nil || v != 2 {
		t.Errorf("EncodeAt(5) = v%d, %v; want v2", v, err)
	}
	if err := Events.CheckEmit(TypeReadMarkMoved, 4); err != nil {
		t.Errorf("readmark.moved not writable at level 4 (as v1): %v", err)
	}
	// A v2 record without a seq is refused on read.
	noSeq := `{"id":"1","type":"readmark.moved","version":2,"room_id":"2","user_id":"3","occurred_at":"2026-11-22T21:21:13.123Z","payload":{"up_to":"4"}}`
	if _, err := Events.Decode([]byte(noSeq)); !errors.Is(err, ErrDecode) {
		t.Errorf("v2 without seq: %v", err)
	}
}
