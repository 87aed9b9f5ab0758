package query

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"happychat/schemas"
)

// The room list's cursor is the busiest-first sort key of the last room of a
// page: (member_count, last_message_at, room_id). The next page is the rooms
// after it in that order, a keyset read, never OFFSET: a page costs the same
// however deep it is, and a room inserted above the cursor does not shift
// the rooms below it into a repeat.
//
// It is opaque to clients (base64url of "r1.<members>.<last message, µs or
// ->.<room id>") so that its form may change; the version tag lets a later
// form refuse an old cursor by name instead of misreading it.

// roomsCursor is the sort key after which a page starts; the zero value
// means the first page.
type roomsCursor struct {
	Members int32
	// LastMessageAt is nil for a room without messages (sorted last within
	// its member count: NULLS LAST).
	LastMessageAt *time.Time
	Room          schemas.ID
}

const cursorTag = "r1"

// maxCursorLen bounds what is decoded: an issued cursor is under 64 bytes.
const maxCursorLen = 128

func (c roomsCursor) isZero() bool { return c.Room == 0 }

// encode renders the cursor for next_cursor.
func (c roomsCursor) encode() string {
	last := "-"
	if c.LastMessageAt != nil {
		last = strconv.FormatInt(c.LastMessageAt.UnixMicro(), 10)
	}
	raw := cursorTag + "." + strconv.FormatInt(int64(c.Members), 10) + "." + last + "." + c.Room.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errBadCursor = badRequest("cursor must be a next_cursor this service returned")

// parseRoomsCursor reads a cursor a client sent back. Anything but a cursor
// this service could have issued is a 400 naming the parameter.
func parseRoomsCursor(s string) (roomsCursor, error) {
	if s == "" || len(s) > maxCursorLen {
		return roomsCursor{}, errBadCursor
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return roomsCursor{}, errBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 || parts[0] != cursorTag {
		return roomsCursor{}, errBadCursor
	}
	members, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil || members < 0 || strconv.FormatInt(members, 10) != parts[1] {
		return roomsCursor{}, errBadCursor
	}
	c := roomsCursor{Members: int32(members)}
	if parts[2] != "-" {
		us, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || strconv.FormatInt(us, 10) != parts[2] {
			return roomsCursor{}, errBadCursor
		}
		t := time.UnixMicro(us).UTC()
		if t.Year() < 2000 || t.Year() > 9999 {
			return roomsCursor{}, errBadCursor
		}
		c.LastMessageAt = &t
	}
	if c.Room, err = schemas.ParseID(parts[3]); err != nil {
		return roomsCursor{}, errBadCursor
	}
	// The decoder skips '\r' and '\n' anywhere in its input, and ParseID
	// may accept spellings encode never writes: only the one spelling this
	// service issues is a cursor, so two strings never name the same page.
	if c.encode() != s {
		return roomsCursor{}, errBadCursor
	}
	return c, nil
}
