package cmdproto

import (
	"bytes"
	"testing"

	"happychat/internal/msgkeys"
)

func TestKeysHeaderRoundTrip(t *testing.T) {
	a, err := msgkeys.New(41)
	if err != nil {
		t.Fatal(err)
	}
	b, err := msgkeys.New(7)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeKeys(EncodeKeys([]msgkeys.Key{a, b}))
	if err != nil || len(got) != 2 {
		t.Fatalf("decode: %v %v", got, err)
	}
	for i, want := range []msgkeys.Key{a, b} {
		if got[i].ID != want.ID || got[i].Message != want.Message || !bytes.Equal(got[i].Secret, want.Secret) {
			t.Fatalf("key %d: got %+v, want %+v", i, got[i], want)
		}
	}
	if keys, err := DecodeKeys(""); err != nil || keys != nil {
		t.Fatalf("empty: %v %v", keys, err)
	}
	for _, bad := range []string{"x", "id:1", "id:zero:AAAA", "id:-1:" + EncodeKeys([]msgkeys.Key{a})[len(a.ID)+4:], ":1:AAAA", "id:1:short", "id:1:!!!"} {
		if _, err := DecodeKeys(bad); err == nil {
			t.Errorf("DecodeKeys(%q) accepted", bad)
		}
	}
}
