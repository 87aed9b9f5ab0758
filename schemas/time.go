package schemas

import (
	"fmt"
	"time"
)

// TimeLayout is the wire form of every timestamp: RFC 3339, milliseconds, UTC.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders t in the wire form.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses the wire form (any RFC 3339 time is accepted; it is
// normalised to UTC milliseconds). A time whose UTC year leaves 0000..9999
// (possible with an offset, e.g. "0000-01-01T00:00:00+01:00") is refused:
// FormatTime could not render it back in a form ParseTime accepts.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC().Truncate(time.Millisecond)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("time %q: year %d out of range in UTC", s, y)
	}
	return t, nil
}
