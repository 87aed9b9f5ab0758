package query

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"happychat/internal/viewpos"
	"happychat/schemas"
)

// Read-your-writes against the real PostgreSQL: a read carrying a position
// (viewpos.Header) is answered only once the projector's positions
// (projector_offsets) reach it; 503 with Retry-After after viewpos.Wait if
// they do not; a value that is not a position is ignored.
func TestReadWaitsForItsPosition(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.Views = []string{"hc.rooms", "hc.users"} })
	room := e.addRoom("after a write", schemas.RoomStatusOpen, 0, time.Now().Add(-time.Hour))
	path := "/v1/rooms/" + room.String()
	with := func(v string) http.Header { return http.Header{viewpos.Header: {v}} }
	setOffset := func(part int32, next int64) {
		t.Helper()
		if _, err := e.pg.Exec(context.Background(), `INSERT INTO projector_offsets (projector, topic, partition, next_offset)
VALUES ($1, 'hc.rooms', $2, $3) ON CONFLICT (projector, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset`,
			viewpos.PGProjector, part, next); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("not a position: ignored, never waited for", func(t *testing.T) {
		setOffset(3, 0)
		wantStatus(t, e.getWith(path, "", with("hc.rooms:x:1,hc.rooms:3:99")), http.StatusOK)
		wantStatus(t, e.getWith(path, "", with("0")), http.StatusOK)
	})
	t.Run("the views never get there", func(t *testing.T) {
		setOffset(3, 9)
		r := e.getWith(path, "", with("hc.rooms:3:10"))
		wantStatus(t, r, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "caught up") {
			t.Fatalf("503 without Retry-After or its reason: %s", r.body)
		}
	})
	t.Run("the views get there while it waits", func(t *testing.T) {
		done := make(chan response, 1)
		go func() { done <- e.getWith(path, "", with("hc.rooms:3:12,hc.rooms:4:1")) }()
		time.Sleep(100 * time.Millisecond)
		setOffset(3, 12)
		select {
		case r := <-done:
			t.Fatalf("answered %d before every partition reached its position", r.status)
		case <-time.After(100 * time.Millisecond):
		}
		setOffset(4, 5)
		wantStatus(t, <-done, http.StatusOK)
	})
	t.Run("already there, or no position, or not a view's topic", func(t *testing.T) {
		wantStatus(t, e.getWith(path, "", with("hc.rooms:3:12")), http.StatusOK)
		wantStatus(t, e.getWith(path, "", with("other.rooms:3:1000,hc.rooms:3:12")), http.StatusOK)
		wantStatus(t, e.get(path, ""), http.StatusOK)
	})
}
