package query

import (
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"happychat/schemas"
)

// The room list's cursor is the sort key of the last room of a page; the
// next page is the rooms after it in that order, a keyset read, never
// OFFSET: a page costs the same however deep it is, and a room inserted
// above the cursor does not shift the rooms below it into a repeat.
//
// Busiest first (the default) sorts by (member_count, last_message_at,
// room_id); newest first by (listed_at, room_id), where listed_at is when
// the room opened (its approval, or its creation for an operator's room).
//
// A cursor also records the list it was cut from (the sort, the q search,
// the mine filter): a cursor of one list sent with another's parameters
// would silently skip or repeat rooms, so it is refused instead.
//
// It is opaque to clients so that its form may change; the version tag lets
// a later form refuse an old cursor by name instead of misreading it:
//
//	r1.<members>.<last message µs or ->.<room id>                  busiest, no q, not mine
//	r2.<sort>.<mine 0|1>.<q hash>.<members>.<time µs or ->.<room>  any other list
//
// base64url encoded. r1 is the form of the unfiltered busiest list, which
// earlier releases issued: their cursors stay valid.

// roomsCursor is the sort key after which a page starts, and the list it
// belongs to; a zero Room means the first page.
type roomsCursor struct {
	list roomsList
	// Members is the busiest order's first key (0 for newest first).
	Members int32
	// At is the busiest order's last message time (nil for a room without
	// messages, sorted last within its member count: NULLS LAST) or the
	// newest-first order's listed_at.
	At   *time.Time
	Room schemas.ID
}

// roomsList names one list a cursor walks: its order, filter and search.
type roomsList struct {
	Sort string
	Mine bool
	// QHash is searchHash of the normalised q; 0 without q.
	QHash uint32
}

// Room list orders.
const (
	SortBusiest = "busiest"
	SortNew     = "new"
)

const (
	cursorTag   = "r1"
	cursorTagV2 = "r2"
)

// maxCursorLen bounds what is decoded: an issued cursor is under 100 bytes.
const maxCursorLen = 160

func (c roomsCursor) isZero() bool { return c.Room == 0 }

// searchHash identifies a normalised search for the cursor. A collision
// would only let a cursor continue the wrong search, never read anything
// the caller may not see.
func searchHash(q string) uint32 {
	if q == "" {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(q))
	return h.Sum32() | 1 // never 0, which means no search
}

// encode renders the cursor for next_cursor.
func (c roomsCursor) encode() string {
	at := "-"
	if c.At != nil {
		at = strconv.FormatInt(c.At.UnixMicro(), 10)
	}
	var raw string
	if c.list == (roomsList{Sort: SortBusiest}) {
		raw = cursorTag + "." + strconv.FormatInt(int64(c.Members), 10) + "." + at + "." + c.Room.String()
	} else {
		mine := "0"
		if c.list.Mine {
			mine = "1"
		}
		raw = cursorTagV2 + "." + c.list.Sort + "." + mine + "." + strconv.FormatUint(uint64(c.list.QHash), 16) + "." +
			strconv.FormatInt(int64(c.Members), 10) + "." + at + "." + c.Room.String()
	}
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
	var c roomsCursor
	switch {
	case len(parts) == 4 && parts[0] == cursorTag:
		c.list = roomsList{Sort: SortBusiest}
		parts = parts[1:]
	case len(parts) == 7 && parts[0] == cursorTagV2:
		if parts[1] != SortBusiest && parts[1] != SortNew || parts[2] != "0" && parts[2] != "1" {
			return roomsCursor{}, errBadCursor
		}
		h, err := strconv.ParseUint(parts[3], 16, 32)
		if err != nil {
			return roomsCursor{}, errBadCursor
		}
		c.list = roomsList{Sort: parts[1], Mine: parts[2] == "1", QHash: uint32(h)}
		parts = parts[4:]
	default:
		return roomsCursor{}, errBadCursor
	}
	members, err := strconv.ParseInt(parts[0], 10, 32)
	if err != nil || members < 0 || strconv.FormatInt(members, 10) != parts[0] {
		return roomsCursor{}, errBadCursor
	}
	c.Members = int32(members)
	if parts[1] != "-" {
		us, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || strconv.FormatInt(us, 10) != parts[1] {
			return roomsCursor{}, errBadCursor
		}
		t := time.UnixMicro(us).UTC()
		if t.Year() < 2000 || t.Year() > 9999 {
			return roomsCursor{}, errBadCursor
		}
		c.At = &t
	}
	if c.Room, err = schemas.ParseID(parts[2]); err != nil {
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
