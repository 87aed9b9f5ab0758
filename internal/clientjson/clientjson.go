// Package clientjson decodes the JSON that clients send — HTTP bodies,
// WebSocket frames, forwarded commands — strictly, and describes every
// refusal in words a client author can act on: which field, which rule
// (`unknown field "status"`, `field "title" must be a string`, "the body has
// data after its JSON value"). The decoder's own messages name Go types
// (`Go struct { Title string "json:\"title\"" … }`), which are internals,
// mean nothing to a client and change with the code; none of them reaches a
// client.
//
// Every service that binds client JSON goes through here, so that a client
// reads one style of message whichever service answers. It imports schemas
// only, never a role package.
package clientjson

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"happychat/schemas"
)

// maxNameRunes bounds how much of a client-chosen member name a message
// quotes: enough to recognise a typo, never a replay of the input.
const maxNameRunes = 40

// Decode decodes data into v strictly (schemas.StrictUnmarshal: one JSON
// value, no unknown, duplicate or case-variant member names, valid UTF-8,
// matching types). A refusal is a *schemas.Error with CodeBadRequest whose
// message names what (such as "body" or "frame") or the field, and the rule.
func Decode(what string, data []byte, v any) error {
	if err := schemas.StrictUnmarshal(data, v); err != nil {
		return Describe(what, data, err)
	}
	return nil
}

// Describe turns an error of the JSON decoder on data into a *schemas.Error
// with CodeBadRequest and a message in plain words, for decoders that are
// not strict (a frame's head is read leniently first). what names the whole
// value ("body", "frame").
func Describe(what string, data []byte, err error) error {
	return schemas.Errorf(schemas.CodeBadRequest, describe(what, data, err))
}

func describe(what string, data []byte, err error) string {
	if len(strings.TrimSpace(string(data))) == 0 {
		return fmt.Sprintf("the %s is empty: it must be a JSON object", what)
	}
	if !utf8.Valid(data) {
		return fmt.Sprintf("the %s is not valid UTF-8", what)
	}
	var sem *json.SemanticError
	if errors.As(err, &sem) {
		return describeSemantic(what, sem)
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return describeSyntax(what, syn)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("the %s ends before its JSON value does", what)
	}
	return fmt.Sprintf("the %s is not valid JSON", what)
}

func describeSyntax(what string, e *jsontext.SyntacticError) string {
	switch {
	case errors.Is(e.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("duplicate field %s", quote(e.JSONPointer.LastToken()))
	case errors.Is(e.Err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("the %s ends before its JSON value does", what)
	case e.JSONPointer == "" && strings.Contains(e.Err.Error(), "after top-level value"):
		// The decoder marks data after the first value only in its text;
		// the test of this package pins the wording of the version in go.mod.
		return fmt.Sprintf("the %s has data after its JSON value (at byte %d): send exactly one JSON object", what, e.ByteOffset)
	case e.JSONPointer != "" && strings.Contains(e.Err.Error(), "in string"):
		return fmt.Sprintf("field %s is not a valid JSON string (at byte %d): control characters must be escaped, escapes must be valid", fieldName(e.JSONPointer), e.ByteOffset)
	case e.JSONPointer != "":
		return fmt.Sprintf("field %s is not valid JSON (at byte %d)", fieldName(e.JSONPointer), e.ByteOffset)
	default:
		return fmt.Sprintf("the %s is not valid JSON (at byte %d)", what, e.ByteOffset)
	}
}

func describeSemantic(what string, e *json.SemanticError) string {
	if errors.Is(e.Err, json.ErrUnknownName) {
		return fmt.Sprintf("unknown field %s", fieldName(e.JSONPointer))
	}
	want := expected(e.GoType, e.Err)
	if e.JSONPointer == "" {
		return fmt.Sprintf("the %s must be %s", what, want)
	}
	return fmt.Sprintf("field %s must be %s", fieldName(e.JSONPointer), want)
}

// expected says in JSON's words what a Go type accepts.
func expected(t reflect.Type, err error) string {
	if errors.Is(err, schemas.ErrBadID) {
		return "a decimal id in a string, such as \"7267000000000000001\""
	}
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "a JSON array"
	default:
		return "of another type"
	}
}

// fieldName renders a JSON pointer as a dotted field path, quoted and cut.
func fieldName(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		parts = append(parts, tok)
	}
	return quote(strings.Join(parts, "."))
}

// quote quotes a client-chosen name, at most maxNameRunes of it, with
// control and invalid bytes escaped: the message must stay one short line of
// valid UTF-8.
func quote(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if r := []rune(name); len(r) > maxNameRunes {
		return fmt.Sprintf("%q…", string(r[:maxNameRunes]))
	}
	return fmt.Sprintf("%q", name)
}

// goInternals are fragments of the decoder's own messages (Go type names,
// struct tags, package prefixes) that must never reach a client.
var goInternals = []string{"struct {", "json:", "Go struct", "Go string", "Go int", "Go bool", "jsontext:", "unmarshal"}

// NamesGoInternals reports whether msg holds any of the decoder's own
// wording. Every service's hostile tests check their refusals with it.
func NamesGoInternals(msg string) bool {
	for _, f := range goInternals {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}
