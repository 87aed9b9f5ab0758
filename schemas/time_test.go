package schemas

import (
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	seoul := time.FixedZone("KST", 9*3600)
	cases := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 21, 21, 13, 123_456_789, time.UTC), "2026-11-22T21:21:13.123Z"},
		{time.Date(2026, 11, 22, 21, 21, 13, 0, time.UTC), "2026-11-22T21:21:13.000Z"},
		{time.Date(2026, 11, 23, 6, 21, 13, 5_000_000, seoul), "2026-11-22T21:21:13.005Z"},
		// The first and the last millisecond of the years ParseTime accepts.
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000Z"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "9999-12-31T23:59:59.999Z"},
	}
	for _, c := range cases {
		if got := FormatTime(c.in); got != c.want {
			t.Errorf("FormatTime(%v) = %q, want %q", c.in, got, c.want)
		}
		back, err := ParseTime(c.want)
		if err != nil || !back.Equal(c.in.Truncate(time.Millisecond)) || back.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v", c.want, back, err)
		}
	}
}

func TestParseTimeRejects(t *testing.T) {
	for _, in := range []string{
		"", "2026-11-22", "2026-11-22 21:21:13Z", "2026-11-22T21:21:13", "2026-11-22t21:21:13z",
		"1795000000", "2026-13-01T00:00:00Z", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
	} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, got)
		}
	}
}
