package fleet

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestFold: the last record of a key wins, tombstones withdraw, expired
// advertisements do not count, the level defaults to 1, and records that are
// neither are skipped and counted.
func TestFold(t *testing.T) {
	now := time.UnixMilli(1795000000000)
	hb := func(role, instance string, level int, expires time.Time) ([]byte, []byte) {
		m := Member{Role: role, Instance: instance, Level: level, Expires: expires}
		v, err := encodeMember(m)
		if err != nil {
			t.Fatal(err)
		}
		return m.key(), v
	}
	lvl := func(l int) ([]byte, []byte) {
		v, err := encodeLevel(l)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(levelKey), v
	}
	type rec struct{ k, v []byte }
	r := func(k, v []byte) rec { return rec{k, v} }
	later, earlier := now.Add(20*time.Second), now.Add(-time.Millisecond)
	cases := []struct {
		name      string
		recs      []rec
		level     int
		live      []string // "role instance level"
		malformed int
	}{
		{"empty topic", nil, 1, nil, 0},
		{"one live", []rec{r(hb("realtime", "a", 1, later))}, 1, []string{"realtime a 1"}, 0},
		{"expired", []rec{r(hb("realtime", "a", 1, earlier))}, 1, nil, 0},
		{"expires exactly now", []rec{r(hb("realtime", "a", 1, now))}, 1, nil, 0},
		{"renewed", []rec{r(hb("realtime", "a", 1, earlier)), r(hb("realtime", "a", 2, later))}, 1, []string{"realtime a 2"}, 0},
		{"last wins even if older expiry", []rec{r(hb("realtime", "a", 1, later)), r(hb("realtime", "a", 1, earlier))}, 1, nil, 0},
		{"tombstone", []rec{r(hb("projector-postgres", "0", 1, later)), {[]byte("projector-postgres/0"), nil}}, 1, nil, 0},
		{"back after tombstone", []rec{r(hb("realtime", "a", 1, later)), {[]byte("realtime/a"), nil}, r(hb("realtime", "a", 1, later))}, 1, []string{"realtime a 1"}, 0},
		{"sorted by role then instance", []rec{r(hb("realtime", "b", 1, later)), r(hb("projector-postgres", "1", 2, later)), r(hb("realtime", "a", 1, later))},
			1, []string{"projector-postgres 1 2", "realtime a 1", "realtime b 1"}, 0},
		{"level raised", []rec{r(lvl(2)), r(hb("realtime", "a", 2, later))}, 2, []string{"realtime a 2"}, 0},
		{"level restored", []rec{r(lvl(3)), r(lvl(2))}, 2, nil, 0},
		{"level tombstone", []rec{r(lvl(3)), {[]byte(levelKey), nil}}, 1, nil, 0},
		{"malformed level kept previous", []rec{r(lvl(2)), {[]byte(levelKey), []byte(`{"level":0}`)}, {[]byte(levelKey), []byte(`x`)}}, 2, nil, 2},
		{"malformed heartbeats", []rec{
			{[]byte("realtime/a"), []byte(`not json`)},
			{[]byte("realtime/a"), []byte(`{"role":"realtime","instance":"b","level":1,"expires_at_ms":9999999999999}`)}, // key mismatch
			{[]byte("realtime/a"), []byte(`{"role":"realtime","instance":"a","level":0,"expires_at_ms":9999999999999}`)},
			{[]byte("/a"), []byte(`{"role":"","instance":"a","level":1,"expires_at_ms":9999999999999}`)},
		}, 1, nil, 4},
		{"unknown members ignored (a later build's heartbeat)", []rec{
			{[]byte("realtime/a"), []byte(`{"role":"realtime","instance":"a","level":3,"expires_at_ms":9999999999999,"zone":"x"}`)},
		}, 1, []string{"realtime a 3"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFolder()
			for _, r := range c.recs {
				f.add(r.k, r.v)
			}
			st := f.state(now)
			var live []string
			for _, m := range st.Members {
				live = append(live, m.String()+" "+strconv.Itoa(m.Level))
			}
			if st.Level != c.level || !slices.Equal(live, c.live) || st.Malformed != c.malformed {
				t.Errorf("state = level %d, live %q, malformed %d; want %d, %q, %d", st.Level, live, st.Malformed, c.level, c.live, c.malformed)
			}
		})
	}
}

func TestHeartbeatWire(t *testing.T) {
	m := Member{Role: "realtime", Instance: "host@127.0.0.1:8085", Level: 2, Expires: time.UnixMilli(1795000000123)}
	v, err := encodeMember(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"role":"realtime","instance":"host@127.0.0.1:8085","level":2,"expires_at_ms":1795000000123}`; string(v) != want {
		t.Errorf("heartbeat = %s, want %s", v, want)
	}
	if string(m.key()) != "realtime/host@127.0.0.1:8085" {
		t.Errorf("key = %s", m.key())
	}
	f := newFolder()
	f.add(m.key(), v)
	if got := f.state(m.Expires.Add(-time.Millisecond)).Members; len(got) != 1 || got[0] != m {
		t.Errorf("round trip = %+v, want %+v", got, m)
	}
}

func TestBelow(t *testing.T) {
	st := State{Level: 1, Members: []Member{{Role: "a", Instance: "1", Level: 1}, {Role: "b", Instance: "1", Level: 2}, {Role: "c", Instance: "1", Level: 3}}}
	var got []string
	for _, m := range st.Below(3) {
		got = append(got, m.Role)
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Below(3) = %v", got)
	}
	if len(st.Below(1)) != 0 {
		t.Errorf("Below(1) = %v", st.Below(1))
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}
	c.setDefaults()
	if c.Interval != DefaultInterval || c.TTL != DefaultTTL {
		t.Errorf("defaults %v, %v", c.Interval, c.TTL)
	}
	// A TTL not above the interval would let a live instance expire
	// between two heartbeats.
	c = Config{Interval: 20 * time.Second, TTL: 5 * time.Second}
	c.setDefaults()
	if c.TTL < 3*c.Interval {
		t.Errorf("TTL %v for an interval of %v", c.TTL, c.Interval)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("an empty config validates")
	}
}
