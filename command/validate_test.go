package command

import (
	"errors"
	"strings"
	"testing"

	"happychat/schemas"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "toracle", "toracle", true},
		{"trimmed", "  toracle \t", "toracle", true},
		{"emoji", "🐱 cat", "🐱 cat", true},
		{"emoji zwj sequence", "👨‍👩‍👧", "👨‍👩‍👧", true},
		{"korean", "행복한사람", "행복한사람", true},
		{"32 code points", strings.Repeat("가", 32), strings.Repeat("가", 32), true},
		{"33 code points", strings.Repeat("가", 33), "", false},
		{"empty", "", "", false},
		{"only spaces", "   ", "", false},
		{"NUL", "a\x00b", "", false},
		{"newline", "a\nb", "", false},
		{"escape", "a\x1bb", "", false},
		{"RTL override", "abc\u202Edef", "", false},
		{"zero width space", "a\u200Bb", "", false},
		{"BOM", "\uFEFFab", "", false},
		{"invalid UTF-8", "a\xffb", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanName("nickname", tt.in, maxNickname)
			if tt.ok != (err == nil) {
				t.Fatalf("cleanName(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if got != tt.want {
				t.Fatalf("cleanName(%q) = %q, want %q", tt.in, got, tt.want)
			}
			var e *schemas.Error
			if err != nil && (!errors.As(err, &e) || e.Code != schemas.CodeBadRequest) {
				t.Fatalf("error %v is not a bad_request", err)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", "hello", true},
		{"multiline", "line 1\nline 2\ttabbed", true},
		{"2000 emoji", strings.Repeat("😀", 2000), true},
		{"2001 code points", strings.Repeat("a", 2001), false},
		{"empty", "", false},
		{"blank", " \n ", false},
		{"NUL", "a\x00", false},
		{"bell", "a\x07", false},
		{"invalid UTF-8", "\xc3\x28", false},
		{"script tag is just text", "<script>alert(1)</script>", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanText("body", tt.in, 1, maxBody)
			if tt.ok != (err == nil) {
				t.Fatalf("cleanText err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil && got != tt.in {
				t.Fatalf("cleanText changed the text: %q", got)
			}
		})
	}
}

func TestCleanClientMsgID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"3f1c2a9e-5b7d-4c1e-9f3a-2b8c7d6e5f4a", true},
		{"abc_DEF.1:2", true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"has space", false},
		{"<x>", false},
		{"ünï", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if _, err := cleanClientMsgID(tt.in); tt.ok != (err == nil) {
				t.Fatalf("cleanClientMsgID(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}
