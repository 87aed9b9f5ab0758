package query

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"happychat/schemas"
)

type testActivity struct {
	Buckets []ActivityBucket `json:"buckets"`
}

type testSenders struct {
	Senders []Sender `json:"senders"`
}

func TestAnalyticsAddUp(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	// A fixed day in the past: bucket boundaries are known.
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	u1, u2, u3 := e.newID(day), e.newID(day), e.newID(day)
	r1 := e.addRoom("one", schemas.RoomStatusOpen, 0, day)
	r2 := e.addRoom("two", schemas.RoomStatusOpen, 0, day)
	// r1: 120 messages over 2 h from u1 and u2 (every minute); r2: 30 from
	// u3 at 10:00–10:29 and 5 from u1 at 23:59:59.x (end of the day).
	m1 := e.addMessages(r1, spread(120, day.Add(9*time.Hour+30*time.Second), time.Minute, u1, u2))
	e.addMessages(r2, spread(30, day.Add(10*time.Hour), time.Minute, u3))
	late := []msg{}
	for i := range 5 {
		late = append(late, msg{user: u1, nickname: "alice", body: "late", at: day.Add(24*time.Hour - time.Second + time.Duration(i)*100*time.Millisecond)})
	}
	e.addMessages(r2, late)
	e.insertHistory(context.Background(), m1[:40]) // unmerged duplicates must not count twice

	activity := func(q string) []ActivityBucket {
		t.Helper()
		r := e.get("/v1/analytics/activity?"+q, "")
		wantStatus(t, r, http.StatusOK)
		return decode[testActivity](t, r).Buckets
	}
	sum := func(bs []ActivityBucket) (n int64) {
		for _, b := range bs {
			n += b.Messages
		}
		return n
	}
	from, to := url.QueryEscape(schemas.FormatTime(day)), url.QueryEscape(schemas.FormatTime(day.Add(24*time.Hour)))
	cases := []struct {
		name     string
		query    string
		buckets  int
		messages int64
	}{
		{"all rooms by hour", "bucket=hour&from=" + from + "&to=" + to, 24, 155},
		{"all rooms by minute, 10:00-11:00", "bucket=minute&from=2026-03-14T10:00:00Z&to=2026-03-14T11:00:00Z", 60, 60 + 30},
		{"all rooms by day", "bucket=day&from=" + from + "&to=" + to, 1, 155},
		{"one room by hour", "room=" + r1.String() + "&bucket=hour&from=" + from + "&to=" + to, 24, 120},
		{"one room by minute", "room=" + r2.String() + "&bucket=minute&from=2026-03-14T10:00:00Z&to=2026-03-14T11:00:00Z", 60, 30},
		{"range rounded to whole buckets", "bucket=hour&from=2026-03-14T09:59:59.999Z&to=2026-03-14T10:00:00.001Z", 2, 120 + 30},
		{"the last second of the day", "room=" + r2.String() + "&bucket=minute&from=2026-03-14T23:59:00Z&to=2026-03-15T00:00:00Z", 1, 5},
		{"an empty range", "bucket=day&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", 1, 0},
	}
	for _, tc := range cases {
		bs := activity(tc.query)
		if len(bs) != tc.buckets || sum(bs) != tc.messages {
			t.Errorf("%s: %d buckets, %d messages; want %d, %d", tc.name, len(bs), sum(bs), tc.buckets, tc.messages)
		}
	}
	// Senders per bucket: at 10:xx, u1 and u2 in r1, u3 in r2.
	for _, b := range activity("bucket=hour&from=" + from + "&to=" + to) {
		want := int64(0)
		switch b.Start {
		case "2026-03-14T09:00:00.000Z":
			want = 2
		case "2026-03-14T10:00:00.000Z":
			want = 3
		case "2026-03-14T23:00:00.000Z":
			want = 1
		}
		if b.Senders != want {
			t.Errorf("bucket %s: %d senders, want %d", b.Start, b.Senders, want)
		}
	}
	// Default range: the last 24 hours by hour (nothing recent here).
	if bs := activity(""); len(bs) < 24 || len(bs) > 25 || sum(bs) != 0 {
		t.Errorf("default activity: %d buckets, %d messages", len(bs), sum(bs))
	}

	// Top senders add up to the same count.
	r := e.get("/v1/analytics/top-senders?from="+from+"&to="+to, "")
	wantStatus(t, r, http.StatusOK)
	senders := decode[testSenders](t, r).Senders
	var total int64
	for _, s := range senders {
		total += s.Messages
	}
	if total != 155 || len(senders) != 3 {
		t.Fatalf("top senders %+v", senders)
	}
	// u1: 60 + 5, u2: 60, u3: 30; u1's newest nickname is "alice".
	if senders[0].UserID != u1 || senders[0].Messages != 65 || senders[0].Nickname != "alice" ||
		senders[1].UserID != u2 || senders[2].UserID != u3 {
		t.Fatalf("top senders order %+v", senders)
	}
	r = e.get("/v1/analytics/top-senders?limit=1&room="+r2.String()+"&from="+from+"&to="+to, "")
	wantStatus(t, r, http.StatusOK)
	if s := decode[testSenders](t, r).Senders; len(s) != 1 || s[0].UserID != u3 || s[0].Messages != 30 {
		t.Fatalf("top sender of r2: %+v", s)
	}
	wantStatus(t, e.get("/v1/analytics/top-senders?room=98765", ""), http.StatusNotFound)
	wantStatus(t, e.get("/v1/analytics/activity?room=98765", ""), http.StatusNotFound)
}
