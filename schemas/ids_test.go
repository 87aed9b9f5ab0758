package schemas

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	cases := []struct {
		in   string
		want ID
		ok   bool
	}{
		{"1", 1, true},
		{"1995793265136041984", 1995793265136041984, true},
		{strconv.FormatInt(math.MaxInt64, 10), math.MaxInt64, true},
		{"", 0, false},
		{"0", 0, false},
		{"00", 0, false},
		{"01", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1\n", 0, false},
		{"x1", 0, false},
		{"1x", 0, false},
		{"0x1f", 0, false},
		{"1e3", 0, false},
		{"1.0", 0, false},
		{"1_000", 0, false},
		{"９", 0, false}, // fullwidth digit
		{"9223372036854775808", 0, false},
		{"99999999999999999999", 0, false},
		{strings.Repeat("1", 100), 0, false},
	}
	for _, c := range cases {
		t.Run(strconv.Quote(c.in), func(t *testing.T) {
			got, err := ParseID(c.in)
			if c.ok {
				if err != nil || got != c.want {
					t.Fatalf("ParseID = %d, %v; want %d", got, err, c.want)
				}
				if got.String() != c.in {
					t.Errorf("String() = %q, want %q", got.String(), c.in)
				}
				return
			}
			if !errors.Is(err, ErrBadID) {
				t.Fatalf("ParseID = %d, %v; want ErrBadID", got, err)
			}
		})
	}
}

type idHolder struct {
	ID ID `json:"id"`
}

func TestIDJSON(t *testing.T) {
	for _, id := range []ID{1, 21, 1 << 53, 1<<53 + 1, 1995793265136041984, math.MaxInt64} {
		b, err := Marshal(idHolder{id})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"id":"` + strconv.FormatInt(int64(id), 10) + `"}`; string(b) != want {
			t.Errorf("Marshal(%d) = %s, want %s", id, b, want)
		}
		var back idHolder
		if err := StrictUnmarshal(b, &back); err != nil || back.ID != id {
			t.Errorf("round trip of %d: %d, %v", id, back.ID, err)
		}
	}
	b, err := Marshal(idHolder{})
	if err != nil || string(b) != `{"id":null}` {
		t.Errorf("zero id marshals as %s, %v; want null", b, err)
	}
	var z idHolder
	z.ID = 5
	if err := StrictUnmarshal([]byte(`{"id":null}`), &z); err != nil || z.ID != 0 {
		t.Errorf("null: %d, %v; want zero", z.ID, err)
	}
}

func TestIDJSONRejects(t *testing.T) {
	for _, in := range []string{
		`1`, `9007199254740993`, `1995793265136041984`, `-1`, `1.5`, `1e3`, `true`, `[]`, `{}`,
		`"0"`, `"-1"`, `"01"`, `" 1"`, `"1 "`, `"abc"`, `""`, `"1e3"`, `"9223372036854775808"`, `"\u0031"`,
	} {
		t.Run(in, func(t *testing.T) {
			var h idHolder
			err := StrictUnmarshal([]byte(`{"id":`+in+`}`), &h)
			if err == nil {
				t.Fatalf("accepted %s as %d", in, h.ID)
			}
		})
	}
}

func TestIDJSONUnmarshalDirect(t *testing.T) {
	// UnmarshalJSON itself, as the v1-compatible interface other decoders call.
	var id ID
	for _, in := range []string{`1`, `"0"`, `"`, `x`, ``} {
		if err := id.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("UnmarshalJSON(%q) accepted", in)
		}
	}
	if err := id.UnmarshalJSON([]byte(`"42"`)); err != nil || id != 42 {
		t.Errorf("UnmarshalJSON(\"42\") = %d, %v", id, err)
	}
	if !ID(0).IsZero() || ID(1).IsZero() {
		t.Error("IsZero")
	}
}
