package schemas

import (
	"errors"
	"fmt"
	"strconv"
)

// ID is a snowflake id (users, rooms, messages, events). On the wire it is a
// decimal string: snowflakes exceed 2^53, so a JSON number would be corrupted
// by every JavaScript client. The zero ID means "none".
type ID int64

// ErrBadID reports a malformed id.
var ErrBadID = errors.New("id must be a positive decimal integer string")

// ParseID parses the decimal string form of an id. Only the canonical form
// is accepted (no sign, no leading zero, no spaces), so that an id has exactly
// one spelling on the wire and in Kafka keys.
func ParseID(s string) (ID, error) {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return 0, ErrBadID
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadID
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrBadID
	}
	return ID(n), nil
}

// String returns the decimal form; it is also the Kafka key of the id.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// IsZero reports whether the id is unset.
func (id ID) IsZero() bool { return id == 0 }

// MarshalJSON encodes the id as a JSON string, or null when zero.
func (id ID) MarshalJSON() ([]byte, error) {
	if id == 0 {
		return []byte("null"), nil
	}
	return []byte(`"` + id.String() + `"`), nil
}

// UnmarshalJSON accepts only a JSON string of decimal digits (or null, which
// leaves the zero id). A JSON number is rejected on purpose: a client that
// sends one has already lost precision.
func (id *ID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*id = 0
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("%w, got %.40s", ErrBadID, b)
	}
	v, err := ParseID(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
