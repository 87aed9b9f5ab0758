package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"happychat/internal/testenv"
	"happychat/internal/viewpos"
	"happychat/query/openapi"
	"happychat/schemas"
)

// devSystem is happychat dev running in-process against the real Kafka,
// PostgreSQL and ClickHouse, on fresh topics and databases.
type devSystem struct {
	t    *testing.T
	base string
	doc  *openapi.Doc

	// positions are, per token, the merged positions of the writes made
	// with it (viewpos.Header), passed back on its later requests as the
	// web client does: read-your-writes, so that a read right after a
	// write never races the projector.
	posMu     sync.Mutex
	positions map[string]viewpos.Position
}

const e2eAdmin = "e2e-admin-token-0123456789abcdefghij"

// loopbackExempt exempts the tests' own address from the address limits.
const loopbackExempt = "127.0.0.0/8,::1"

func devEnv(t *testing.T) map[string]string {
	env := map[string]string{
		"KAFKA_BROKERS":        strings.Join(testenv.Kafka(t), ","),
		"CHAT_TOPIC_PREFIX":    "e2e" + testenv.RandomHex(4),
		"CHAT_HTTP_ADDR":       "127.0.0.1:0",
		"CHAT_ADMIN_TOKEN":     e2eAdmin,
		"CHAT_TOKEN_SECRET":    "e2e-token-secret-0123456789",
		"CHAT_SEND_RATE":       "10000",
		"CHAT_SEND_BURST":      "10000",
		"CHAT_ROOM_PARTITIONS": "3",
		"HAPPYCHAT_STATE_DIR":  t.TempDir(),
		"CHAT_LOG_LEVEL":       "warn",
		// The tests are many clients on one address: the operator's
		// allowlist, as for the load generator and the fault suite.
		"CHAT_RATE_LIMIT_EXEMPT": loopbackExempt,
	}
	testenv.DropTopicsAfter(t, testenv.Kafka(t), env["CHAT_TOPIC_PREFIX"])
	requireStores(t)
	for _, kv := range freshStores(t) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

func startDev(t *testing.T) *devSystem {
	t.Helper()
	env := devEnv(t)
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &devSystem{t: t, base: "http://" + runServing(t, "dev", env), doc: doc}
}

// call sends a request, checks the answer against the OpenAPI document, and
// decodes a JSON answer into out.
func (s *devSystem) call(method, path, ginPath, token string, in, out any) (int, http.Header, []byte) {
	s.t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, body)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	s.posMu.Lock()
	if p := s.positions[token]; len(p) > 0 {
		req.Header.Set(viewpos.Header, p.String())
	}
	s.posMu.Unlock()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if v := resp.Header.Get(viewpos.Header); v != "" {
		p, err := viewpos.Parse(v)
		if err != nil {
			s.t.Fatalf("%s %s: the answer's position: %v", method, path, err)
		}
		s.posMu.Lock()
		if s.positions == nil {
			s.positions = map[string]viewpos.Position{}
		}
		if s.positions[token] == nil {
			s.positions[token] = viewpos.Position{}
		}
		s.positions[token].Merge(p)
		s.posMu.Unlock()
	}
	b, _ := io.ReadAll(resp.Body)
	if err := s.doc.ValidateResponse(method, ginPath, resp.StatusCode, resp.Header, b); err != nil {
		s.t.Fatalf("%s %s answered outside the OpenAPI document: %v\n%s", method, path, err, b)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header, b
}

func (s *devSystem) session(nick string) schemas.Session {
	var out schemas.Session
	if st, _, b := s.call("POST", "/v1/sessions", "/v1/sessions", "", map[string]string{"nickname": nick}, &out); st != 201 {
		s.t.Fatalf("session: %d %s", st, b)
	}
	return out
}

// eventually retries check until it passes or 60 s pass.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEveryRouteIsDocumented builds the all-in-one engines (every route of
// every service, public and internal) and checks each against the OpenAPI
// document. The runtime profiles of the internal listener (/debug/pprof/,
// net/http/pprof's) are no API: README documents them.
func TestEveryRouteIsDocumented(t *testing.T) {
	env := devEnv(t)
	p, err := newProcess(Env{Getenv: func(k string) string { return env[k] }, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	engine, internal, _, err := p.buildDev(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	var routes []openapi.Route
	for _, r := range slices.Concat(engine.Routes(), internal.Routes()) {
		if !strings.HasPrefix(r.Path, "/debug/pprof/") {
			routes = append(routes, openapi.Route{Method: r.Method, Path: r.Path})
		}
	}
	if missing := doc.Missing(routes); len(missing) > 0 {
		t.Fatalf("routes missing from docs/openapi.yaml: %v", missing)
	}
}

// TestAPIEndToEnd drives the public API of the whole system: writes through
// the command service, reads of what the real projectors wrote.
func TestAPIEndToEnd(t *testing.T) {
	s := startDev(t)
	alice, bob := s.session("alice 🌸"), s.session("밥")
	var room schemas.Room
	if st, _, b := s.call("POST", "/v1/rooms", "/v1/rooms", e2eAdmin, map[string]string{"title": "Happy cats 🐱", "description": "meow"}, &room); st != 201 {
		t.Fatalf("create room: %d %s", st, b)
	}
	rp := "/v1/rooms/" + room.ID.String()
	for _, u := range []schemas.Session{alice, bob} {
		st, h, b := s.call("POST", rp+"/join", "/v1/rooms/:id/join", u.Token, nil, nil)
		if st != 200 {
			t.Fatalf("join: %d %s", st, b)
		}
		// Read-your-writes: the join's answer says where it is in the
		// log, and a read passing that back sees the membership at once
		// (call passes it, as the web client does).
		if p := h.Get(viewpos.Header); !strings.Contains(p, ".rooms.") {
			t.Fatalf("the join's answer has no position in the rooms topic: %q", p)
		}
		var got schemas.Room
		if st, _, b := s.call("GET", rp, "/v1/rooms/:id", u.Token, nil, &got); st != 200 || got.Members == nil || !slices.ContainsFunc(*got.Members, func(m schemas.Member) bool { return m.UserID == u.UserID }) {
			t.Fatalf("the room read right after the join with its position: %d %s", st, b)
		}
	}
	const n = 130
	var sent []schemas.Message
	for i := range n {
		u := alice
		if i%10 == 9 {
			u = bob
		}
		var m schemas.Message
		st, _, b := s.call("POST", rp+"/messages", "/v1/rooms/:id/messages", u.Token,
			map[string]string{"body": fmt.Sprintf("message %d congrats", i), "client_msg_id": fmt.Sprint("c-", i)}, &m)
		if st != 201 {
			t.Fatalf("send %d: %d %s", i, st, b)
		}
		if len(m.Effects) != 1 || m.Effects[0] != "balloons" {
			t.Fatalf("effects %v", m.Effects)
		}
		sent = append(sent, m)
	}
	last := sent[n-1]

	// Read-your-writes: X-Projected-Seq says when the view has caught up.
	eventually(t, "history catches up", func() error {
		_, h, _ := s.call("GET", rp+"/messages?limit=1", "/v1/rooms/:id/messages", "", nil, nil)
		if got := h.Get("X-Projected-Seq"); got != fmt.Sprint(last.Seq) {
			return fmt.Errorf("projected seq %s, want %d", got, last.Seq)
		}
		return nil
	})

	// Backwards pages: newest first, complete, no repeats.
	var back []schemas.Message
	cursor := ""
	for {
		var page struct {
			Messages   []schemas.Message `json:"messages"`
			NextBefore *string           `json:"next_before"`
		}
		s.call("GET", rp+"/messages?limit=50"+cursor, "/v1/rooms/:id/messages", "", nil, &page)
		back = append(back, page.Messages...)
		if page.NextBefore == nil {
			break
		}
		cursor = "&before=" + *page.NextBefore
	}
	if len(back) != n {
		t.Fatalf("paged back through %d messages, want %d", len(back), n)
	}
	for i, m := range back {
		if m.ID != sent[n-1-i].ID || m.Body != sent[n-1-i].Body {
			t.Fatalf("page position %d holds %d, want %d", i, m.ID, sent[n-1-i].ID)
		}
	}
	// Forward pages from the first message: oldest first.
	var fwd []schemas.Message
	cursor = "&after=" + (sent[0].ID - 1).String()
	for {
		var page struct {
			Messages  []schemas.Message `json:"messages"`
			NextAfter *string           `json:"next_after"`
		}
		s.call("GET", rp+"/messages?limit=37"+cursor, "/v1/rooms/:id/messages", "", nil, &page)
		fwd = append(fwd, page.Messages...)
		if page.NextAfter == nil {
			break
		}
		cursor = "&after=" + *page.NextAfter
	}
	if len(fwd) != n || fwd[0].ID != sent[0].ID || fwd[n-1].ID != last.ID {
		t.Fatalf("paged forward through %d messages", len(fwd))
	}

	// Export: NDJSON, oldest first, every message.
	resp, err := http.Get(s.base + rp + "/messages/export")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	i := 0
	for sc.Scan() {
		var m schemas.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("export line %d: %v", i, err)
		}
		if i >= n || m.ID != sent[i].ID {
			t.Fatalf("export line %d is %d", i, m.ID)
		}
		i++
	}
	resp.Body.Close()
	if i != n {
		t.Fatalf("export has %d lines, want %d", i, n)
	}

	// Unread follows read marks.
	unread := func(u schemas.Session) (int64, error) {
		var list struct {
			Rooms []schemas.Room `json:"rooms"`
		}
		s.call("GET", "/v1/rooms", "/v1/rooms", u.Token, nil, &list)
		for _, r := range list.Rooms {
			if r.ID == room.ID {
				if r.Unread == nil {
					return 0, fmt.Errorf("no unread field")
				}
				return *r.Unread, nil
			}
		}
		return 0, fmt.Errorf("room not listed")
	}
	eventually(t, "unread before any read mark", func() error {
		if u, err := unread(bob); err != nil || u != n {
			return fmt.Errorf("unread %d (%w), want %d", u, err, n)
		}
		return nil
	})
	if st, _, b := s.call("POST", rp+"/read", "/v1/rooms/:id/read", bob.Token, map[string]string{"up_to": sent[99].ID.String()}, nil); st != 200 {
		t.Fatalf("read mark: %d %s", st, b)
	}
	eventually(t, "unread after the read mark", func() error {
		if u, err := unread(bob); err != nil || u != n-100 {
			return fmt.Errorf("unread %d (%w), want %d", u, err, n-100)
		}
		return nil
	})
	// A mark never moves back.
	s.call("POST", rp+"/read", "/v1/rooms/:id/read", bob.Token, map[string]string{"up_to": sent[10].ID.String()}, nil)
	time.Sleep(500 * time.Millisecond)
	if u, _ := unread(bob); u != n-100 {
		t.Fatalf("a read mark moved back: unread %d", u)
	}

	// Analytics add up to the messages sent.
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	var act struct {
		Buckets []struct {
			Messages int64 `json:"messages"`
			Senders  int64 `json:"senders"`
		} `json:"buckets"`
	}
	s.call("GET", "/v1/analytics/activity?bucket=minute&room="+room.ID.String()+"&from="+from+"&to="+to, "/v1/analytics/activity", "", nil, &act)
	var total int64
	for _, b := range act.Buckets {
		total += b.Messages
	}
	if total != n {
		t.Fatalf("activity buckets add up to %d, want %d", total, n)
	}
	var top struct {
		Senders []struct {
			UserID   schemas.ID `json:"user_id"`
			Messages int64      `json:"messages"`
		} `json:"senders"`
	}
	s.call("GET", "/v1/analytics/top-senders?room="+room.ID.String()+"&from="+from+"&to="+to, "/v1/analytics/top-senders", "", nil, &top)
	if len(top.Senders) != 2 || top.Senders[0].UserID != alice.UserID || top.Senders[0].Messages != 117 || top.Senders[1].Messages != 13 {
		t.Fatalf("top senders %+v", top.Senders)
	}

	// Room details: both members; the idempotent retry changes nothing.
	var again schemas.Message
	s.call("POST", rp+"/messages", "/v1/rooms/:id/messages", alice.Token, map[string]string{"body": "other", "client_msg_id": "c-0"}, &again)
	if again.ID != sent[0].ID || again.Seq != sent[0].Seq {
		t.Fatalf("retry returned %d/%d, want %d/%d", again.ID, again.Seq, sent[0].ID, sent[0].Seq)
	}
	var detail schemas.Room
	s.call("GET", rp, "/v1/rooms/:id", "", nil, &detail)
	if detail.Members == nil || len(*detail.Members) != 2 || detail.MessageCount != n || detail.MemberCount != 2 {
		t.Fatalf("room details %+v", detail)
	}
}
