package command

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"happychat/schemas"
)

// Field limits of the API contract, in code points.
const (
	maxNickname    = 32
	maxTitle       = 100
	maxDescription = 500
	maxBody        = 2000
	maxClientMsgID = 64
)

// invisible lists characters that are not control characters to Unicode but
// let a name or title impersonate or hide text: bidi overrides and isolates,
// zero-width spaces, line and paragraph separators. Zero-width joiner and
// variation selectors stay allowed: emoji sequences need them.
func invisible(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x200B, r == 0x200E, r == 0x200F, r == 0x2028, r == 0x2029, r == 0xFEFF, r == 0x061C:
		return true
	}
	return false
}

func badRequest(msg string) *schemas.Error { return schemas.Errorf(schemas.CodeBadRequest, msg) }

// cleanName validates a nickname or title: trimmed, 1..max code points, no
// control or invisible characters.
func cleanName(field, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", badRequest(field + " must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", badRequest(field + " must not be empty")
	}
	if n > max {
		return "", badRequest(field + " is longer than " + strconv.Itoa(max) + " characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) || invisible(r) {
			return "", badRequest(field + " must not contain control or invisible characters")
		}
	}
	return s, nil
}

// cleanText validates a description or message body: 0/1..max code points;
// newlines and tabs are allowed, other control characters are not.
func cleanText(field, s string, min, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", badRequest(field + " must be valid UTF-8")
	}
	n := utf8.RuneCountInString(s)
	if n < min || strings.TrimSpace(s) == "" && min > 0 {
		return "", badRequest(field + " must not be empty")
	}
	if n > max {
		return "", badRequest(field + " is longer than " + strconv.Itoa(max) + " characters")
	}
	for _, r := range s {
		if r == '\n' || r == '\t' || r == '\r' {
			continue
		}
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 {
			return "", badRequest(field + " must not contain control characters")
		}
	}
	return s, nil
}

// cleanClientMsgID validates the idempotency key: 1..64 characters of
// letters, digits and "-_.:" (a UUID fits).
func cleanClientMsgID(s string) (string, error) { return cleanKey("client_msg_id", s) }

// cleanKey checks a client's idempotency key (client_msg_id, the
// Idempotency-Key header): 1-64 letters, digits and -_.: characters.
func cleanKey(name, s string) (string, error) {
	if s == "" {
		return "", badRequest(name + " is required")
	}
	if len(s) > maxClientMsgID {
		return "", badRequest(name + " is longer than 64 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return "", badRequest(name + " may hold only letters, digits and -_.:")
		}
	}
	return s, nil
}

// cleanMentions checks the shape of a send's mentions: distinct user ids,
// no more than a room holds. Whether each is a current member is the
// owner's decision.
func cleanMentions(ids []schemas.ID, capacity int) error {
	if len(ids) > min(capacity, schemas.MaxMentions) {
		return badRequest("mentions may name at most " + strconv.Itoa(min(capacity, schemas.MaxMentions)) + " members")
	}
	for i, id := range ids {
		if id <= 0 {
			return badRequest("mentions must be user ids")
		}
		if slices.Contains(ids[:i], id) {
			return badRequest("mentions must not repeat a user id")
		}
	}
	return nil
}
