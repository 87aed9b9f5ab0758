package command

import (
	"strings"
	"testing"
)

// The edges of the field rules (validate.go): lengths at and past each
// limit, the characters on either side of every allowed range of an
// idempotency key, and the invisible characters a name may not hold.

func TestCleanTextLengths(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		min, max int
		ok       bool
	}{
		{"a one-character body", "a", 1, maxBody, true},
		{"an empty body", "", 1, maxBody, false},
		{"a body of spaces", "  ", 1, maxBody, false},
		{"a body at the limit", strings.Repeat("a", maxBody), 1, maxBody, true},
		{"an empty description", "", 0, maxDescription, true},
		{"a blank description", "  \n", 0, maxDescription, true},
		{"a description at the limit", strings.Repeat("é", maxDescription), 0, maxDescription, true},
		{"a description past the limit", strings.Repeat("é", maxDescription+1), 0, maxDescription, false},
		{"CR LF and tab", "a\r\n\tb", 1, maxBody, true},
		{"a line separator", "a\u2028b", 1, maxBody, false},
		{"a paragraph separator", "a\u2029b", 1, maxBody, false},
		{"DEL", "a\x7fb", 1, maxBody, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanText("field", tt.in, tt.min, tt.max)
			if (err == nil) != tt.ok {
				t.Fatalf("cleanText(%q, %d, %d) err = %v, want ok=%v", tt.in, tt.min, tt.max, err, tt.ok)
			}
			if err == nil && got != tt.in {
				t.Fatalf("cleanText changed %q to %q", tt.in, got)
			}
		})
	}
}

func TestCleanKeyCharacters(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{strings.Repeat("k", maxClientMsgID), true},
		{strings.Repeat("k", maxClientMsgID+1), false},
		{"a", true}, {"z", true}, {"`", false}, {"{", false},
		{"A", true}, {"Z", true}, {"@", false}, {"[", false},
		{"0", true}, {"9", true}, {"/", false}, {";", false},
		{"-", true}, {"_", true}, {".", true}, {":", true},
		{",", false}, {"+", false}, {"~", false}, {"\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := cleanKey("Idempotency-Key", tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("cleanKey(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err == nil && got != tt.in {
				t.Fatalf("cleanKey changed %q to %q", tt.in, got)
			}
		})
	}
}

func TestInvisible(t *testing.T) {
	tests := []struct {
		name string
		r    rune
		want bool
	}{
		{"paragraph separator", 0x2029, true},
		{"LRE, first embedding control", 0x202A, true},
		{"RLO, last embedding control", 0x202E, true},
		{"narrow no-break space, after them", 0x202F, false},
		{"before the isolates", 0x2065, false},
		{"LRI, first isolate", 0x2066, true},
		{"PDI, last isolate", 0x2069, true},
		{"after the isolates", 0x206A, false},
		{"zero width space", 0x200B, true},
		{"zero width non-joiner", 0x200C, false},
		{"zero width joiner (emoji)", 0x200D, false},
		{"LRM", 0x200E, true},
		{"RLM", 0x200F, true},
		{"line separator", 0x2028, true},
		{"BOM", 0xFEFF, true},
		{"Arabic letter mark", 0x061C, true},
		{"variation selector 16 (emoji)", 0xFE0F, false},
		{"a letter", 'a', false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := invisible(tt.r); got != tt.want {
				t.Fatalf("invisible(%U) = %v, want %v", tt.r, got, tt.want)
			}
		})
	}
}
