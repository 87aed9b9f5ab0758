package schemas

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode feeds Decode arbitrary bytes. Properties:
//   - it never panics, and every error wraps ErrDecode;
//   - whatever decodes re-encodes, and the re-encoding decodes to the same
//     envelope and re-encodes to the same bytes (Encode is canonical);
//   - the re-encoding validates against the JSON Schema of its type: the
//     schemas describe everything the decoder lets through.
//
// Seeds: the goldens plus hostile inputs; more interesting inputs live in
// testdata/fuzz/FuzzDecode. Run it with
//
//	go test ./schemas -run '^$' -fuzz FuzzDecode -fuzztime 20s
func FuzzDecode(f *testing.F) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(goldens) == 0 {
		f.Fatalf("no goldens: %v", err)
	}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "null", "{}", "[]", `"x"`, "0",
		strictBase + strictBase,
		strings.Replace(strictBase, `"seq":3`, `"seq":3,"seq":3`, 1),
		strings.Replace(strictBase, `"text":"hi"`, `"text":"\u0000"`, 1),
		strings.Replace(strictBase, `"text":"hi"`, "\"text\":\"\xed\xa0\x80\"", 1),
		strings.Replace(strictBase, `"id":"1995793265136041984"`, `"id":1995793265136041984`, 1),
		strings.Replace(strictBase, `"version":1`, `"version":99999999999999999999`, 1),
		strings.Replace(strictBase, `2026-11-22T21:21:13.123Z`, `0000-01-01T00:00:00+23:59`, 1),
		strings.Replace(leftBase, `"reason":"left"`, `"reason":"switched","switched_to":"1"`, 1),
		strings.Repeat("[", 100) + strings.Repeat("]", 100),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Events.Decode(data)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error does not wrap ErrDecode: %v", err)
			}
			return
		}
		enc, version, err := reencode(env)
		if err != nil {
			t.Fatalf("decoded %+v but cannot re-encode it: %v", env, err)
		}
		again, err := Events.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoding %s does not decode: %v", enc, err)
		}
		if !sameEnvelope(env, again) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", env, again)
		}
		enc2, _, err := reencode(again)
		if err != nil || string(enc2) != string(enc) {
			t.Fatalf("Encode is not canonical: %s vs %s (%v)", enc, enc2, err)
		}
		if err := validateEncoded(t, enc, env.Type, version); err != nil {
			t.Fatalf("re-encoding %s does not validate against its schema: %v", enc, err)
		}
	})
}

// reencode writes env back in the current version, or, for a record of an
// earlier version that lived on the users topic (readmark.moved v1: no seq,
// VersionScope), in that version: the current one needs a seq.
func reencode(env Envelope) ([]byte, int, error) {
	if env.Seq == 0 && Events.ScopeOf(env.Type) == ScopeRoom {
		return Events.EncodeAt(env, Events.LevelOf(env.Type, 1))
	}
	b, err := Events.Encode(env)
	return b, env.Version, err
}
