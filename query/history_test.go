package query

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"happychat/internal/revoked"
	"happychat/schemas"
	"happychat/schemas/token"
)

type testBackward struct {
	Messages   []schemas.Message `json:"messages"`
	NextBefore schemas.ID        `json:"next_before"`
}

type testForward struct {
	Messages  []schemas.Message `json:"messages"`
	NextAfter schemas.ID        `json:"next_after"`
}

func ids(ms []schemas.Message) []schemas.ID {
	out := make([]schemas.ID, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// pageBackward reads the whole history newest first, limit at a time.
func (e *testEnv) pageBackward(room schemas.ID, limit int, before schemas.ID) []schemas.Message {
	e.t.Helper()
	var all []schemas.Message
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.t.Fatal("paging does not end")
		}
		path := "/v1/rooms/" + room.String() + "/messages?limit=" + strconv.Itoa(limit)
		if before != 0 {
			path += "&before=" + before.String()
		}
		r := e.get(path, "")
		wantStatus(e.t, r, http.StatusOK)
		p := decode[testBackward](e.t, r)
		if len(p.Messages) > limit {
			e.t.Fatalf("page of %d messages, limit %d", len(p.Messages), limit)
		}
		all = append(all, p.Messages...)
		if p.NextBefore == 0 {
			return all
		}
		if len(p.Messages) != limit || p.NextBefore != p.Messages[len(p.Messages)-1].ID {
			e.t.Fatalf("next_before %d after a page of %d", p.NextBefore, len(p.Messages))
		}
		before = p.NextBefore
	}
}

// pageForward reads the history oldest first from after.
func (e *testEnv) pageForward(room schemas.ID, limit int, after schemas.ID) []schemas.Message {
	e.t.Helper()
	var all []schemas.Message
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.t.Fatal("paging does not end")
		}
		r := e.get("/v1/rooms/"+room.String()+"/messages?limit="+strconv.Itoa(limit)+"&after="+after.String(), "")
		wantStatus(e.t, r, http.StatusOK)
		p := decode[testForward](e.t, r)
		all = append(all, p.Messages...)
		if p.NextAfter == 0 {
			return all
		}
		after = p.NextAfter
	}
}

func TestHistoryPagesAreComplete(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-400 * 24 * time.Hour).Truncate(time.Millisecond)
	users := []schemas.ID{e.newID(start), e.newID(start)}
	room := e.addRoom("pages", schemas.RoomStatusOpen, 0, start)
	var want []schemas.Message
	// Three stretches of very different density: the windows must adapt.
	want = append(want, e.addMessages(room, spread(300, start.Add(time.Hour), 7*time.Second, users...))...)
	want = append(want, e.addMessages(room, spread(20, start.Add(100*24*time.Hour), 9*24*time.Hour, users...))...)
	burst := spread(250, start.Add(390*24*time.Hour), time.Millisecond, users...)
	burst[7].effects = []string{"balloons", "confetti"}
	want = append(want, e.addMessages(room, burst)...)
	// A replay inserts some of them again; until a merge, both copies are
	// in the table, and no page may show one twice.
	e.insertHistory(context.Background(), want[100:400])

	newestFirst := slices.Clone(want)
	slices.Reverse(newestFirst)
	for _, limit := range []int{1, 7, 50, 200} {
		if limit == 1 && testing.Short() {
			continue
		}
		got := e.pageBackward(room, limit, 0)
		if !slices.Equal(ids(got), ids(newestFirst)) {
			t.Fatalf("backward, limit %d: %d messages, want %d", limit, len(got), len(want))
		}
		got = e.pageForward(room, limit, 1)
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("forward, limit %d: %d messages, want %d", limit, len(got), len(want))
		}
	}
	// The messages are rendered in full.
	got := e.pageForward(room, 200, 1)
	for i := range got {
		if !equalMessage(got[i], want[i]) {
			t.Fatalf("message %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// Default page: the newest 50, with the read-your-writes header.
	r := e.get("/v1/rooms/"+room.String()+"/messages", "")
	wantStatus(t, r, http.StatusOK)
	p := decode[testBackward](t, r)
	if !slices.Equal(ids(p.Messages), ids(newestFirst[:50])) || p.NextBefore != newestFirst[49].ID {
		t.Fatalf("default page: %d messages, next_before %d", len(p.Messages), p.NextBefore)
	}
	if seq := r.header.Get(HeaderProjectedSeq); seq != strconv.FormatInt(want[len(want)-1].Seq, 10) {
		t.Fatalf("%s = %q, want %d", HeaderProjectedSeq, seq, want[len(want)-1].Seq)
	}
	// A cursor in the middle, at an id that is not a message's.
	mid := want[150].ID
	got = e.pageBackward(room, 50, mid+1)
	if !slices.Equal(ids(got), ids(newestFirst[len(want)-151:])) {
		t.Fatalf("backward from the middle: %d messages, want %d", len(got), 151)
	}
	// An empty room.
	empty := e.addRoom("empty", schemas.RoomStatusOpen, 0, start)
	if got := e.pageBackward(empty, 50, 0); len(got) != 0 {
		t.Fatalf("empty room has %d messages", len(got))
	}
}

func equalMessage(a, b schemas.Message) bool {
	ea, eb := a.Effects, b.Effects
	if len(ea) == 0 && len(eb) == 0 {
		ea, eb = nil, nil
	}
	type plain struct {
		ID, RoomID, UserID             schemas.ID
		Nickname, Body, SentAt, Client string
		Seq                            int64
	}
	pa := plain{a.ID, a.RoomID, a.UserID, a.Nickname, a.Body, a.SentAt, a.ClientMsgID, a.Seq}
	pb := plain{b.ID, b.RoomID, b.UserID, b.Nickname, b.Body, b.SentAt, b.ClientMsgID, b.Seq}
	return pa == pb && slices.Equal(ea, eb)
}

// While messages keep arriving and a replay rewrites old ones, backward
// paging from a first page sees exactly the messages older than that page's
// top, and forward paging sees every message that existed when it started,
// in order, each once.
func TestHistoryPagesDuringInserts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	start := now.Add(-2 * time.Hour)
	user := e.newID(start)
	room := e.addRoom("busy", schemas.RoomStatusOpen, 0, start)
	before := e.addMessages(room, spread(600, start, 10*time.Second, user))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var added []schemas.Message
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil && i < 200; i++ {
			// New messages are newer than everything before (snowflakes).
			added = append(added, e.addMessages(room, []msg{{user: user, body: "live", at: time.Now().UTC()}})...)
			// Meanwhile a replay writes old messages again.
			if i%10 == 0 {
				e.insertHistory(context.Background(), before[(i/10)*30:(i/10+1)*30])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	first := e.get("/v1/rooms/"+room.String()+"/messages?limit=20", "")
	wantStatus(t, first, http.StatusOK)
	top := decode[testBackward](t, first).Messages
	got := append(slices.Clone(top), e.pageBackward(room, 20, top[len(top)-1].ID)...)
	fwd := e.pageForward(room, 20, 1)
	cancel()
	wg.Wait()

	// Backward: exactly the messages at or below the first page's top.
	all := append(slices.Clone(before), added...)
	var want []schemas.ID
	for _, m := range all {
		if m.ID <= top[0].ID {
			want = append(want, m.ID)
		}
	}
	slices.Reverse(want)
	if !slices.Equal(ids(got), want) {
		t.Fatalf("backward during inserts: %d messages, want %d", len(got), len(want))
	}
	// Forward: strictly increasing, a prefix of all messages, covering at
	// least every message from before the paging started.
	if len(fwd) < len(before) || !slices.Equal(ids(fwd), ids(all[:len(fwd)])) {
		t.Fatalf("forward during inserts: %d messages, not a prefix of the %d written", len(fwd), len(all))
	}
}

func TestExportIsCompleteAndOrdered(t *testing.T) {
	t.Parallel()
	// Small chunks: the export crosses many window and chunk boundaries.
	e := newTestEnv(t, func(c *Config) { c.ExportChunk = 97; c.ExportFlushRows = 10 })
	start := time.Now().UTC().Add(-90 * 24 * time.Hour).Truncate(time.Millisecond)
	users := []schemas.ID{e.newID(start), e.newID(start), e.newID(start)}
	room := e.addRoom("export", schemas.RoomStatusOpen, 0, start)
	want := e.addMessages(room, spread(1500, start.Add(time.Minute), 3*time.Second, users...))
	want = append(want, e.addMessages(room, spread(30, start.Add(30*24*time.Hour), 24*time.Hour, users...))...)
	e.insertHistory(context.Background(), want[:500]) // unmerged duplicates

	r := e.get("/v1/rooms/"+room.String()+"/messages/export", "")
	wantStatus(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("Content-Type %q", ct)
	}
	var got []schemas.Message
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var m schemas.Message
		if err := schemas.StrictUnmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d: %v", len(got)+1, err)
		}
		got = append(got, m)
	}
	if len(got) != len(want) {
		t.Fatalf("exported %d messages, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalMessage(got[i], want[i]) {
			t.Fatalf("line %d:\n got %+v\nwant %+v", i+1, got[i], want[i])
		}
	}
	if seq := r.header.Get(HeaderProjectedSeq); seq != strconv.FormatInt(want[len(want)-1].Seq, 10) {
		t.Fatalf("%s = %q", HeaderProjectedSeq, seq)
	}
}

// A client that goes away mid-export stops it: the handler returns, and
// the rows it wrote are far fewer than the room holds.
func TestExportStopsWhenTheClientGoes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.ExportChunk = 5000; c.ExportFlushRows = 100 })
	start := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Millisecond)
	user := e.newID(start)
	room := e.addRoom("big", schemas.RoomStatusOpen, 0, start)
	const total = 60000
	for i := 0; i < total; i += 20000 {
		e.addMessages(room, spread(20000, start.Add(time.Duration(i)*time.Second), time.Second, user))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/rooms/"+room.String()+"/messages/export", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for range 10 {
		if _, err := br.ReadBytes('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if v := testutil.ToFloat64(e.svc.metrics.exporting); v != 1 {
		t.Fatalf("exports in flight = %v, want 1", v)
	}
	cancel() // the client goes away
	resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(e.svc.metrics.exporting) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the export still runs 20 s after the client went away")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := testutil.ToFloat64(e.svc.metrics.exported); n >= total {
		t.Fatalf("exported all %v messages to a client that left", n)
	}
	if n := testutil.ToFloat64(e.svc.metrics.aborted); n != 1 {
		t.Fatalf("aborted exports = %v, want 1", n)
	}
}

// A logout ends the exports opened with the token, as it closes its
// sockets: the stream stops at its next flush and is cut before the
// chunked body's end (it must not look whole), while an export of another
// user's token runs to the end.
func TestExportEndsWhenItsTokenIsRevoked(t *testing.T) {
	t.Parallel()
	revocations := revoked.NewSet(nil)
	revocations.MarkReady()
	e := newTestEnv(t, func(c *Config) {
		c.Keys = c.Keys.WithRevocations(revocations)
		c.ExportChunk, c.ExportFlushRows = 5000, 100
	})
	start := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Millisecond)
	author := e.newID(start)
	room := e.addRoom("big", schemas.RoomStatusOpen, 0, start)
	// Far more than the kernel's socket buffers on loopback hold (about
	// 250 bytes a line), so the end cannot already sit in them when the
	// token is revoked.
	const total = 100000
	for i := 0; i < total; i += 20000 {
		e.addMessages(room, spread(20000, start.Add(time.Duration(i)*time.Second), time.Second, author))
	}
	issue := func(u schemas.ID) (string, token.Claims) {
		tok, _, err := e.svc.cfg.Keys.Issue(u, "reader")
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.svc.cfg.Keys.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		return tok, c
	}
	leaver, leaverClaims := issue(e.newID(start))
	stayer, _ := issue(e.newID(start))
	open := func(tok string) *bufio.Reader {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/rooms/"+room.String()+"/messages/export", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("export: %d", resp.StatusCode)
		}
		return bufio.NewReaderSize(resp.Body, 1024)
	}
	lines := func(br *bufio.Reader, n int) (int, error) {
		for i := range n {
			if _, err := br.ReadBytes('\n'); err != nil {
				return i, err
			}
		}
		return n, nil
	}
	gone, kept := open(leaver), open(stayer)
	if _, err := lines(gone, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := revocations.Add(schemas.Envelope{UserID: leaverClaims.UserID, OccurredAt: time.Now(),
		Payload: schemas.SessionRevoked{SessionID: leaverClaims.SessionID, ExpiresAt: schemas.FormatTime(leaverClaims.Expires)}}); err != nil {
		t.Fatal(err)
	}
	if n, err := lines(gone, total); err == nil || errors.Is(err, io.EOF) && n == total {
		t.Fatalf("the revoked token's export went on: %d more lines, then %v", n, err)
	} else if n >= total-10 {
		t.Fatalf("the revoked token's export read %d more lines of %d before it ended", n, total-10)
	}
	if n, err := lines(kept, total); err != nil || n != total {
		t.Fatalf("another user's export: %d lines, %v", n, err)
	}
	if n := testutil.ToFloat64(e.svc.metrics.aborted); n != 1 {
		t.Fatalf("aborted exports = %v, want 1", n)
	}
}

// An export that fails after its status line must not look complete: the
// connection is cut before the chunked body's end, and the client's read
// fails.
func TestExportFailureIsVisible(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.ExportChunkTimeout = time.Nanosecond })
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	room := e.addRoom("doomed", schemas.RoomStatusOpen, 0, start)
	e.addMessages(room, spread(10, start, time.Second, e.newID(start)))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/rooms/"+room.String()+"/messages/export", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("a failed export read as a complete one")
	}
	if n := testutil.ToFloat64(e.svc.metrics.aborted); n != 1 {
		t.Fatalf("aborted exports = %v", n)
	}
}

// X-Projected-Seq is the history's highest seq of the room whatever the
// PostgreSQL view's hints say: right, ahead of the history, behind it, or
// missing.
func TestProjectedSeqWhateverTheHints(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Millisecond)
	user := e.newID(start)
	room := e.addRoom("seq", schemas.RoomStatusOpen, 0, start)
	msgs := e.addMessages(room, spread(120, start.Add(time.Minute), time.Minute, user))
	e.addMember(room, user, "late joiner", start.Add(10*time.Hour)) // an event after the last message
	want := strconv.FormatInt(msgs[len(msgs)-1].Seq+1, 10)
	empty := e.addRoom("no messages", schemas.RoomStatusOpen, 0, start)

	hints := []struct{ name, sql string }{
		{"right", ``},
		{"ahead of the history", `UPDATE rooms SET last_seq = last_seq + 50000, last_message_at = now() + interval '10 days' WHERE room_id = $1`},
		{"behind the history", `UPDATE rooms SET last_seq = 1, last_message_at = created_at WHERE room_id = $1`},
		{"missing", `UPDATE rooms SET last_seq = 0, last_message_at = NULL, last_message_id = NULL WHERE room_id = $1`},
	}
	for _, h := range hints {
		if h.sql != "" {
			if _, err := e.pg.Exec(context.Background(), h.sql, int64(room)); err != nil {
				t.Fatal(err)
			}
		}
		for _, path := range []string{"/messages?limit=7", "/messages?after=1&limit=7", "/messages/export"} {
			r := e.get("/v1/rooms/"+room.String()+path, "")
			wantStatus(t, r, http.StatusOK)
			if got := r.header.Get(HeaderProjectedSeq); got != want {
				t.Errorf("hints %s, %s: %s = %s, want %s", h.name, path, HeaderProjectedSeq, got, want)
			}
		}
		if got := e.pageBackward(room, 50, 0); len(got) != len(msgs) {
			t.Errorf("hints %s: %d messages, want %d", h.name, len(got), len(msgs))
		}
	}
	r := e.get("/v1/rooms/"+empty.String()+"/messages", "")
	if got := r.header.Get(HeaderProjectedSeq); got != "1" {
		t.Errorf("a room without messages: %s = %s, want 1 (its creation)", HeaderProjectedSeq, got)
	}
}
