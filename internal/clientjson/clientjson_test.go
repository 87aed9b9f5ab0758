package clientjson

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"happychat/schemas"
)

type body struct {
	Title string     `json:"title"`
	N     int        `json:"n"`
	UpTo  schemas.ID `json:"up_to"`
	Flag  bool       `json:"flag"`
	Sub   struct {
		X string `json:"x"`
	} `json:"sub"`
}

// moreInternals are further fragments that no message of this package
// contains, though a decoder's might.
var moreInternals = []string{"Go ", "jsontext", "reflect", "schemas.", "clientjson."}

func TestDecodeSaysFieldAndRule(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown field (the issue's example)", `{"title":"t","status":"open"}`, `unknown field "status"`},
		{"case-variant name", `{"Title":"t"}`, `unknown field "Title"`},
		{"nested unknown field", `{"sub":{"y":1}}`, `unknown field "sub.y"`},
		{"duplicate field", `{"title":"a","title":"b"}`, `duplicate field "title"`},
		{"string expected", `{"title":1}`, `field "title" must be a string`},
		{"integer expected", `{"n":"x"}`, `field "n" must be a whole number in range`},
		{"integer out of range", `{"n":1e100}`, `field "n" must be a whole number in range`},
		{"boolean expected", `{"flag":"yes"}`, `field "flag" must be true or false`},
		{"id as a number", `{"up_to":7267000000000000001}`, `field "up_to" must be a decimal id in a string, such as "7267000000000000001"`},
		{"id not decimal", `{"up_to":"abc"}`, `field "up_to" must be a decimal id in a string, such as "7267000000000000001"`},
		{"object expected", `{"sub":[]}`, `field "sub" must be a JSON object`},
		{"array instead of the object", `[1,2]`, `the body must be a JSON object`},
		{"string instead of the object", `"hi"`, `the body must be a JSON object`},
		{"empty", ``, `the body is empty: it must be a JSON object`},
		{"blank", " \n", `the body is empty: it must be a JSON object`},
		{"trailing object", `{"title":"a"} {}`, `the body has data after its JSON value (at byte 14): send exactly one JSON object`},
		{"trailing garbage", `{"title":"a"}x`, `the body has data after its JSON value (at byte 13): send exactly one JSON object`},
		{"truncated", `{"title":"a"`, `the body ends before its JSON value does`},
		{"invalid UTF-8", "{\"title\":\"a\xffb\"}", `the body is not valid UTF-8`},
		{"raw control character", "{\"title\":\"a\x01\"}", `field "title" is not a valid JSON string (at byte 11): control characters must be escaped, escapes must be valid`},
		{"lone surrogate", `{"title":"\ud800"}`, `field "title" is not a valid JSON string (at byte 10): control characters must be escaped, escapes must be valid`},
		{"missing value", `{"title":}`, `field "title" is not valid JSON (at byte 9)`},
		{"not JSON", `title=x`, `the body is not valid JSON (at byte 1)`},
		{"long unknown name is cut", `{"` + strings.Repeat("a", 500) + `":1}`, `unknown field "` + strings.Repeat("a", 40) + `"…`},
		{"control characters in a name are escaped", `{"a\u0000\nb":1}`, `unknown field "a\x00\nb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v body
			err := Decode("body", []byte(tt.in), &v)
			var e *schemas.Error
			if !errors.As(err, &e) || e.Code != schemas.CodeBadRequest {
				t.Fatalf("Decode(%q) = %v, want a bad_request", tt.in, err)
			}
			if e.Message != tt.want {
				t.Fatalf("Decode(%q) message\n got %s\nwant %s", tt.in, e.Message, tt.want)
			}
			if NamesGoInternals(e.Message) {
				t.Fatalf("message %q names Go internals", e.Message)
			}
			for _, frag := range moreInternals {
				if strings.Contains(e.Message, frag) {
					t.Fatalf("message %q names Go internals (%q)", e.Message, frag)
				}
			}
			if !utf8.ValidString(e.Message) || strings.ContainsAny(e.Message, "\n\x00") || len(e.Message) > 200 {
				t.Fatalf("message %q is not one short line of valid UTF-8", e.Message)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	var v body
	if err := Decode("body", []byte(`{"title":"t","n":3,"up_to":"5","flag":true,"sub":{"x":"y"}}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.Title != "t" || v.N != 3 || v.UpTo != 5 || !v.Flag || v.Sub.X != "y" {
		t.Fatalf("decoded %+v", v)
	}
}

// TestDescribeNamesWhat: the same rule reads with the caller's noun.
func TestDescribeNamesWhat(t *testing.T) {
	var v body
	err := Decode("frame", []byte(`[1]`), &v)
	var e *schemas.Error
	if !errors.As(err, &e) || e.Message != "the frame must be a JSON object" {
		t.Fatalf("Decode = %v", err)
	}
}

// TestMessagesStayShort carries over the bounds the command service's
// decoder messages had (cut to 200 bytes on a character boundary, one line,
// valid UTF-8, renderable in the envelope), with the hostile names as the
// part a message quotes.
func TestMessagesStayShort(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"short", `{"bad":1}`},
		{"multi-line", `{"first line\nsecond line":1}`},
		{"long ASCII", `{"` + strings.Repeat("a", 500) + `":1}`},
		{"long, cut inside a character", `{"` + strings.Repeat("a", 39) + strings.Repeat("̞", 100) + `":1}`},
		{"invalid UTF-8", "{\"bad \xff\xfe byte\":1}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v body
			e := schemas.AsError(Decode("body", []byte(tt.in), &v))
			if !utf8.ValidString(e.Message) || len(e.Message) > 200 || strings.Contains(e.Message, "\n") {
				t.Fatalf("message %q", e.Message)
			}
			if _, err := schemas.Marshal(schemas.ErrorBody{Error: e}); err != nil {
				t.Fatalf("the envelope does not render: %v", err)
			}
		})
	}
}

func TestNamesGoInternals(t *testing.T) {
	raw := `malformed JSON body: json: cannot unmarshal JSON string into Go struct { Title string "json:\"title\"" }: unknown object member name "status"`
	if !NamesGoInternals(raw) {
		t.Fatal("the issue's message passes")
	}
	if NamesGoInternals(`unknown field "status"`) {
		t.Fatal("a plain message fails")
	}
}
