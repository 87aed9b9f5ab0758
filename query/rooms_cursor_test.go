package query

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"happychat/schemas"
)

func TestRoomsCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 22, 21, 21, 13, 123456000, time.UTC)
	for _, c := range []roomsCursor{
		{list: roomsList{Sort: SortBusiest}, Members: 0, Room: 1},
		{list: roomsList{Sort: SortBusiest}, Members: 20, At: &at, Room: 7265401934405767168},
		{list: roomsList{Sort: SortBusiest}, Members: 2147483647, Room: schemas.ID(1<<63 - 1)},
		{list: roomsList{Sort: SortNew}, At: &at, Room: 5},
		{list: roomsList{Sort: SortBusiest, Mine: true, QHash: searchHash("고양이")}, Members: 3, Room: 9},
		{list: roomsList{Sort: SortNew, Mine: true, QHash: 1<<32 - 1}, At: &at, Room: schemas.ID(1<<63 - 1)},
	} {
		s := c.encode()
		if len(s) > maxCursorLen {
			t.Fatalf("%+v encodes to %d bytes", c, len(s))
		}
		got, err := parseRoomsCursor(s)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if got.list != c.list || got.Members != c.Members || got.Room != c.Room || (got.At == nil) != (c.At == nil) ||
			(c.At != nil && !got.At.Equal(*c.At)) {
			t.Fatalf("round trip %+v → %q → %+v", c, s, got)
		}
	}
}

func TestRoomsCursorRefusals(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, s := range map[string]string{
		"empty":              "",
		"not base64":         "!!!",
		"padded base64":      base64.URLEncoding.EncodeToString([]byte("r1.1.-.5")),
		"standard base64":    base64.StdEncoding.EncodeToString([]byte("r1.1.-.5??")),
		"other version":      b64("r3.1.-.5"),
		"r2 with r1's parts": b64("r2.1.-.5"),
		"r2 unknown sort":    b64("r2.oldest.0.0.0.-.5"),
		"r2 mine not a bit":  b64("r2.new.2.0.0.-.5"),
		"r2 hash not hex":    b64("r2.new.0.zz.0.-.5"),
		"r2 hash too big":    b64("r2.new.0.100000000.0.-.5"),
		"r2 hash spelling":   b64("r2.new.0.0A.0.-.5"),
		"too few parts":      b64("r1.1.5"),
		"too many parts":     b64("r1.1.-.5.6"),
		"negative members":   b64("r1.-1.-.5"),
		"signed members":     b64("r1.+1.-.5"),
		"members too big":    b64("r1.2147483648.-.5"),
		"leading zero":       b64("r1.01.-.5"),
		"time not a number":  b64("r1.1.x.5"),
		"time before 2000":   b64("r1.1.0.5"),
		"room zero":          b64("r1.1.-.0"),
		"room not an id":     b64("r1.1.-.1e9"),
		"sql":                b64("r1.1.-.1; DROP TABLE rooms"),
		"long":               strings.Repeat("A", 10000),
	} {
		_, err := parseRoomsCursor(s)
		var e *schemas.Error
		if !errors.As(err, &e) || e.Code != schemas.CodeBadRequest || !strings.Contains(e.Message, "cursor") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzRoomsCursor: a cursor parses only if it is one this service could
// have issued (it re-encodes to itself); anything else is a short
// bad_request naming the parameter.
func FuzzRoomsCursor(f *testing.F) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	f.Add(roomsCursor{list: roomsList{Sort: SortBusiest}, Members: 3, At: &at, Room: 42}.encode())
	f.Add(roomsCursor{list: roomsList{Sort: SortBusiest}, Members: 0, Room: 1}.encode())
	f.Add(roomsCursor{list: roomsList{Sort: SortNew, Mine: true, QHash: 77}, At: &at, Room: 42}.encode())
	f.Add("cjEuMS4tLjU")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseRoomsCursor(s)
		if err != nil {
			var e *schemas.Error
			if !errors.As(err, &e) || e.Code != schemas.CodeBadRequest || !utf8.ValidString(e.Message) || len(e.Message) > 100 {
				t.Fatalf("refusal %#v", err)
			}
			return
		}
		if c.encode() != s {
			t.Fatalf("%q parsed as %+v, which encodes to %q", s, c, c.encode())
		}
	})
}
