package main

// End-to-end tests of the web client in a real browser: Debian's headless
// Chromium driven by chromedp, against the whole system started in-process
// with run(ctx, env, ["dev"]) on a :0 port, with a fresh PostgreSQL and
// ClickHouse database and a unique topic prefix. Each run saves screenshots
// (phone-sized and desktop) under artifacts/screenshots/; -docs-screenshots
// also copies them to docs/screenshots/.
//
// HAPPYCHAT_E2E_BASE_URL, if set, points the tests at a running deployment
// instead (with its admin token in CHAT_ADMIN_TOKEN).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdpnetwork "github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"happychat/internal/chtest"
	"happychat/internal/pgtest"
	"happychat/internal/testenv"
)

// docsScreenshots refreshes docs/screenshots/ from a run:
//
//	go test ./cmd/happychat -run TestBrowser -args -docs-screenshots
//
// Off by default, so that test runs do not rewrite tracked images.
var docsScreenshots = flag.Bool("docs-screenshots", false, "copy the browser tests' screenshots to docs/screenshots/")

const chromiumPath = "/usr/bin/chromium"

// Bounds of the waits: generous, because two CPUs run the browser, the
// broker, the projectors and the databases at once.
const (
	stepTimeout = 30 * time.Second
	waitTimeout = 30 * time.Second
)

func TestBrowser(t *testing.T) {
	requireBrowser(t)
	sys := startWebSystem(t)
	br := newBrowser(t)

	t.Run("TwoPeopleChatBothWays", func(t *testing.T) { testChatBothWays(t, sys, br) })
	t.Run("HistoryScrollBack", func(t *testing.T) { testHistoryScrollBack(t, sys, br) })
	t.Run("TwentyFirstPersonIsToldTheRoomIsFull", func(t *testing.T) { testRoomFull(t, sys, br) })
	t.Run("TriggerWordPlaysEffect", func(t *testing.T) { testEffect(t, sys, br) })
	t.Run("MarkupRendersAsInertText", func(t *testing.T) { testInertMarkup(t, sys, br) })
	t.Run("OfflineAndBackResumesWithoutGapsOrDuplicates", func(t *testing.T) { testOfflineResume(t, sys, br) })
	t.Run("AppShellOpensOffline", func(t *testing.T) { testOfflineShell(t, sys, br) })
	t.Run("ProposeApproveAndKorean", func(t *testing.T) { testProposeApproveKorean(t, sys, br) })
	t.Run("RoomsFindAndPage", func(t *testing.T) { testRoomsFindAndPage(t, sys, br) })
	t.Run("TimelineSurvivesReload", func(t *testing.T) { testTimelineSurvivesReload(t, sys, br) })
	t.Run("RoomOpensOfflineFromSavedHistory", func(t *testing.T) { testRoomOffline(t, sys, br) })
	t.Run("PhoneRoomView", func(t *testing.T) { testPhoneRoomView(t, sys, br) })
	t.Run("AdminQueueApprovesAndRejects", func(t *testing.T) { testAdminQueue(t, sys, br) })
	t.Run("MessageChanges", func(t *testing.T) { testMessageChanges(t, sys, br) })
	t.Run("FallbackToEventStream", func(t *testing.T) { testFallbackToEventStream(t, sys, br) })
	t.Run("Typing", func(t *testing.T) { testTyping(t, sys, br) })
	t.Run("SeenBy", func(t *testing.T) { testSeenBy(t, sys, br) })
	t.Run("Conversations", func(t *testing.T) { testConversations(t, sys, br) })
	t.Run("Moderation", func(t *testing.T) { testModeration(t, sys, br) })
	t.Run("BlocksReports", func(t *testing.T) { testBlocksReports(t, sys, br) })
	t.Run("WebPushShown", func(t *testing.T) { testWebPushShown(t, sys, br) })
}

// ---------------------------------------------------------------------------
// Scenarios

func testChatBothWays(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Happy cats 🐱 "+webSuffix(), "Share your cat's best moment")
	sys.createRoom(t, "맛있는 음식 "+webSuffix(), "오늘 뭐 먹었어요? 🍜")

	ann := br.newTab(t, "ann", phone)
	bob := br.newTab(t, "bob", desktop)
	ann.login(sys, "Ann 🌸")
	ann.shot("rooms-phone")
	bob.login(sys, "Bob")
	bob.waitJS(fmt.Sprintf(`!!document.querySelector('[data-room-id=%q]')`, room), "the new room in the topic list")
	bob.shot("rooms-desktop")

	ann.openRoomFromList(room)
	bob.openRoomFromList(room)

	hello := "Hello from Ann 👋 안녕하세요! 🎈🐱"
	ann.typeAndEnter(hello)
	ann.waitMessage(hello, 1)
	bob.waitMessage(hello, 1)
	reply := "Hi Ann! 반가워요 😀 — how are the cats?"
	bob.typeAndClickSend(reply)
	ann.waitMessage(reply, 1)
	bob.waitMessage(reply, 1)

	// Both see each other in the member list, and nothing is left pending.
	ann.waitJS(`document.querySelectorAll('#member-list li').length >= 2`, "two members listed")
	bob.waitJS(`document.querySelectorAll('#member-list li').length >= 2`, "two members listed")
	for _, tb := range []*tab{ann, bob} {
		tb.waitJS(`document.querySelectorAll('#messages .pending').length === 0`, "no pending send")
		tb.waitJS(`document.querySelector('#conn').dataset.state === 'online'`, "connected state shown")
	}
	bob.typeAndEnter("We have three now 😺😺😺")
	ann.waitMessage("We have three now 😺😺😺", 1)
	ann.shot("room-phone")
	bob.shot("room-desktop")

	// Unread counts: Ann goes back to the list; Bob writes twice more.
	ann.click(`#back`)
	ann.waitJS(fmt.Sprintf(`!!document.querySelector('[data-room-id=%q]')`, room), "the topic list")
	bob.typeAndEnter("Ann, look at this 📸")
	bob.typeAndEnter("…and this one!")
	bob.waitMessage("…and this one!", 1)
	ann.waitJSRefreshing(fmt.Sprintf(`document.querySelector('[data-room-id=%q] .badge-unread')?.dataset.unread === '2'`, room), "#refresh", "2 unread on the topic card")
	ann.shot("rooms-unread-phone")
}

func testHistoryScrollBack(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Long story "+webSuffix(), "A room with a long history")
	writer := sys.newUser(t, "Narrator")
	sys.join(t, writer, room, http.StatusOK)
	const n = 130
	for i := 1; i <= n; i++ {
		sys.postMessage(t, writer, room, fmt.Sprintf("history %03d", i))
	}

	reader := br.newTab(t, "reader", desktop)
	reader.login(sys, "Reader")
	reader.openRoomByURL(sys, room)
	reader.waitMessage(fmt.Sprintf("history %03d", n), 1)
	// The first page is the newest 50; scroll up until the first message
	// arrives, page by page (keyset pages: before=<id>).
	deadline := time.Now().Add(waitTimeout * 2)
	for evalJS[int](reader, `document.querySelectorAll('#messages li.msg').length`) < n {
		if time.Now().After(deadline) {
			reader.fail("history did not load back to the first message")
		}
		reader.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#timeline').scrollTop = 0`))
		time.Sleep(300 * time.Millisecond)
	}
	got := evalJS[[]string](reader, `[...document.querySelectorAll('#messages li.msg .msg-body')].map(e => e.textContent)`)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("history %03d", i+1)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("history in the page: got %d messages %q…, want %d in order without gaps or repeats", len(got), firstN(got, 5), n)
	}
	reader.waitJS(`!!document.querySelector('.timeline-start')`, "the beginning of the room is shown")
	reader.shot("history-desktop")
}

func testRoomFull(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Cosy corner "+webSuffix(), "Only twenty fit")
	for i := range 20 {
		sys.join(t, sys.newUser(t, fmt.Sprintf("guest%02d", i+1)), room, http.StatusOK)
	}
	late := br.newTab(t, "late", phone)
	late.login(sys, "Latecomer")
	late.openRoomByURL(sys, room)
	late.waitJS(`!!document.querySelector('#room-full')`, "the room-full notice")
	text := evalJS[string](late, `document.querySelector('#room-full').textContent`)
	if !strings.Contains(text, "full") || !strings.Contains(text, "20") {
		t.Fatalf("room-full notice %q should say the room is full and name its capacity", text)
	}
	if evalJS[bool](late, `!!document.querySelector('#composer')`) {
		t.Fatal("a full room must not show the message box")
	}
	late.shot("room-full-phone")
}

func testEffect(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Good news only "+webSuffix(), "Tell us something that made you smile")
	cat := br.newTab(t, "cat", phone)
	dog := br.newTab(t, "dog", desktop, reducedMotion, darkMode)
	cat.login(sys, "Cat")
	dog.login(sys, "Dog")
	cat.openRoomByURL(sys, room)
	dog.openRoomByURL(sys, room)
	msg := "congrats on the new job!! 🥳"
	cat.typeAndEnter(msg)
	cat.waitMessage(msg, 1)
	dog.waitMessage(msg, 1)
	cat.waitJS(`document.querySelectorAll('#effects .effect-balloons .piece').length > 0`, "balloons on screen")
	cat.waitJS(`document.querySelector('#messages li.msg:last-child .msg-effects') !== null`, "the effect marked on the message")
	time.Sleep(1500 * time.Millisecond) // let the balloons rise into view
	cat.shot("effect-balloons-phone")
	// Reduced motion: the message says it asked for balloons, none fly.
	dog.waitJS(`document.querySelector('#messages li.msg:last-child .msg-effects') !== null`, "the effect marked on the message")
	if n := evalJS[int](dog, `document.querySelectorAll('#effects .effect').length`); n != 0 {
		t.Fatalf("with prefers-reduced-motion, %d effects played; want none", n)
	}
	dog.typeAndEnter("Thank you all! 🙏 고마워요")
	cat.waitMessage("Thank you all! 🙏 고마워요", 1)
	dog.shot("room-dark-desktop")
}

func testInertMarkup(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Markup "+webSuffix(), "")
	eve := br.newTab(t, "eve", desktop)
	vic := br.newTab(t, "victim", phone)
	eve.login(sys, `<b>Eve</b>`)
	vic.login(sys, "Victim")
	eve.openRoomByURL(sys, room)
	vic.openRoomByURL(sys, room)
	evil := `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> & <b>bold?</b>`
	eve.typeAndEnter(evil)
	for _, tb := range []*tab{eve, vic} {
		tb.waitMessage(evil, 1)
		if n := evalJS[int](tb, `document.querySelectorAll('#messages img, #messages script, #messages b').length`); n != 0 {
			t.Fatalf("%s: the message became %d elements; it must stay text", tb.name, n)
		}
		if pwned := evalJS[bool](tb, `window.__pwned !== undefined`); pwned {
			t.Fatalf("%s: the message's markup ran", tb.name)
		}
		if !evalJS[bool](tb, `[...document.querySelectorAll('.msg-author')].some(e => e.textContent.startsWith('<b>Eve</b>'))`) {
			t.Fatalf("%s: the nickname's markup is not shown as text", tb.name)
		}
	}
	vic.shot("inert-markup-phone")
}

func testOfflineResume(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Tunnel talk "+webSuffix(), "Signal comes and goes")
	rider := br.newTab(t, "rider", phone)
	home := br.newTab(t, "home", desktop)
	rider.login(sys, "Rider 🚇")
	home.login(sys, "Home")
	rider.openRoomByURL(sys, room)
	home.openRoomByURL(sys, room)
	home.typeAndEnter("before the tunnel")
	rider.waitMessage("before the tunnel", 1)

	rider.setOffline(true)
	rider.waitJS(`document.querySelector('#conn').dataset.state === 'offline'`, "offline state shown")
	rider.waitJS(`!document.querySelector('#offline-banner').hidden`, "offline banner shown")
	var missed []string
	for i := 1; i <= 5; i++ {
		m := fmt.Sprintf("while you were away %d", i)
		missed = append(missed, m)
		home.typeAndEnter(m)
	}
	home.waitMessage(missed[len(missed)-1], 1)
	rider.typeAndEnter("sent from the tunnel 📵")
	rider.waitJS(`document.querySelector('#messages .pending.state-queued') !== null`, "the offline send waits as queued")
	rider.shot("offline-phone")

	rider.setOffline(false)
	rider.waitJS(`document.querySelector('#conn').dataset.state === 'online'`, "back online")
	for _, m := range missed {
		rider.waitMessage(m, 1)
	}
	rider.waitMessage("sent from the tunnel 📵", 1)
	home.waitMessage("sent from the tunnel 📵", 1)
	rider.waitJS(`document.querySelectorAll('#messages .pending').length === 0`, "no pending send")

	// Exactly once each, in the room's order.
	for _, tb := range []*tab{rider, home} {
		got := evalJS[[]string](tb, `[...document.querySelectorAll('#messages li.msg .msg-body')].map(e => e.textContent)`)
		want := append(append([]string{"before the tunnel"}, missed...), "sent from the tunnel 📵")
		if !slices.Equal(got, want) {
			t.Fatalf("%s shows %q, want %q", tb.name, got, want)
		}
		ids := evalJS[[]string](tb, `[...document.querySelectorAll('#messages li.msg')].map(e => e.dataset.id)`)
		if len(ids) != len(want) || webHasDuplicates(ids) {
			t.Fatalf("%s: message ids %q: want %d distinct", tb.name, ids, len(want))
		}
	}
	rider.shot("back-online-phone")
}

func testOfflineShell(t *testing.T, sys *webSystem, br *browser) {
	tb := br.newTab(t, "pwa", phone)
	tb.login(sys, "Pwa")
	tb.waitJS(`navigator.serviceWorker.controller !== null`, "the service worker controls the page")
	// The manifest is valid JSON with installable icons.
	manifest := evalJS[map[string]any](tb, `fetch('/manifest.webmanifest').then(r => r.json())`)
	if manifest["display"] != "standalone" || manifest["start_url"] != "/" {
		t.Fatalf("manifest: %v", manifest)
	}
	tb.setOffline(true)
	tb.do(chromedp.Navigate(sys.base + "/"))
	tb.waitJS(`!!document.querySelector('#main h1')`, "the app shell opened offline")
	tb.waitJS(`!document.querySelector('#offline-banner').hidden && document.querySelector('#conn').dataset.state === 'offline'`, "the app says it is offline")
	tb.shot("offline-shell-phone")
	tb.setOffline(false)
}

func testProposeApproveKorean(t *testing.T, sys *webSystem, br *browser) {
	title := "햇살 가득 정원 🌻 " + webSuffix()
	ko := br.newTab(t, "minji", phone, korean)
	ko.do(chromedp.Navigate(sys.base + "/"))
	ko.waitJS(`document.documentElement.lang === 'ko' && document.querySelector('#start')?.textContent === '대화 시작'`, "the Korean login screen")
	ko.shot("login-ko-phone")
	ko.login(sys, "민지")
	ko.click(`#propose-link`)
	ko.do(chromedp.SendKeys(chromedp.ID("propose-title"), title), chromedp.SendKeys(chromedp.ID("propose-description"), "꽃과 식물 이야기"))
	ko.click(`#propose-submit`)
	ko.waitJS(`location.pathname === '/'`, "back on the topic list after proposing")

	admin := br.newTab(t, "admin", desktop)
	admin.login(sys, "Operator")
	admin.click(`#admin-link`)
	admin.do(chromedp.SendKeys(chromedp.ID("admin-token"), sys.adminToken))
	admin.click(`#admin-unlock button[type=submit]`)
	admin.waitJSRefreshing(fmt.Sprintf(`[...document.querySelectorAll('#proposal-list h3')].some(e => e.textContent === %s)`, jsString(title)), "#admin-refresh", "the proposal listed for the admin")
	admin.shot("admin-desktop")
	admin.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll('#proposal-list li')].find(li => li.querySelector('h3').textContent === %s).querySelector('button').click()`, jsString(title))))

	ko.waitJSRefreshing(fmt.Sprintf(`[...document.querySelectorAll('.room-title')].some(e => e.textContent === %s)`, jsString(title)), "#refresh", "the approved topic in the list")
	ko.shot("rooms-ko-phone")
}

// ---------------------------------------------------------------------------
// The system under test

type webSystem struct {
	base       string // http://host:port
	adminToken string
	client     *http.Client
}

// startWebSystem runs `happychat dev` in-process on a fresh database pair.
func startWebSystem(t *testing.T) *webSystem {
	t.Helper()
	return startWebSystemWith(t, nil)
}

// startWebSystemWith is startWebSystem with settings of its own
// (overrides win).
func startWebSystemWith(t *testing.T, overrides map[string]string) *webSystem {
	t.Helper()
	sys := &webSystem{client: &http.Client{Timeout: 20 * time.Second}}
	if base := os.Getenv("HAPPYCHAT_E2E_BASE_URL"); base != "" {
		sys.base = strings.TrimRight(base, "/")
		sys.adminToken = os.Getenv("CHAT_ADMIN_TOKEN")
		return sys
	}
	id := "web" + webSuffix()
	env := map[string]string{
		"CHAT_HTTP_ADDR":         "127.0.0.1:0",
		"CHAT_TOPIC_PREFIX":      "t" + id,
		"CHAT_ADMIN_TOKEN":       "admin-" + testenv.RandomHex(16),
		"CHAT_TOKEN_SECRET":      testenv.RandomHex(32),
		"CHAT_EFFECT_WORDS":      "congrats=balloons,happy birthday=confetti",
		"CHAT_SEND_RATE":         "1000", // the history scenario posts 130 messages at once
		"CHAT_SEND_BURST":        "1000",
		"CHAT_LOG_LEVEL":         "warn",
		"CHAT_RATE_LIMIT_EXEMPT": loopbackExempt, // every browser of the tests is on 127.0.0.1
		"HAPPYCHAT_STATE_DIR":    t.TempDir(),
	}
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		env["KAFKA_BROKERS"] = b // else the embedded broker
		for _, addr := range strings.Split(b, ",") {
			testenv.Reach(t, "Kafka", strings.TrimSpace(addr))
		}
	}
	maps.Copy(env, overrides)
	if b := env["KAFKA_BROKERS"]; b != "" {
		testenv.DropTopicsAfter(t, strings.Split(b, ","), env["CHAT_TOPIC_PREFIX"])
	}
	_, env["PG_URL"] = pgtest.Database(t, testenv.PGURL(), "test_"+id+"_")
	env["CLICKHOUSE_ADDR"] = testenv.ClickHouseAddr()
	_, env["CLICKHOUSE_DB"] = chtest.Database(t, clickhouse.Options{Addr: []string{env["CLICKHOUSE_ADDR"]}, DialTimeout: 5 * time.Second}, "test_"+id+"_")
	sys.adminToken = env["CHAT_ADMIN_TOKEN"]

	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &webLog{}
	go func() {
		done <- run(ctx, Env{
			Getenv: func(k string) string { return env[k] },
			Stdout: io.Discard,
			Stderr: logs,
			Ready:  func(addr string) { ready <- addr },
		}, []string{"dev"})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("happychat dev ended: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("happychat dev did not stop within 30 s")
		}
		if t.Failed() {
			t.Logf("happychat dev log (last 8 KiB):\n%s", logs.tail(8<<10))
		}
	})
	select {
	case addr := <-ready:
		sys.base = "http://" + addr
	case err := <-done:
		t.Fatalf("happychat dev stopped before serving: %v\n%s", err, logs.tail(8<<10))
	case <-time.After(90 * time.Second):
		t.Fatalf("happychat dev did not serve within 90 s\n%s", logs.tail(8<<10))
	}
	// Serving is not ready: wait until the dependencies answer.
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := sys.client.Get(sys.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("happychat dev not ready within 60 s (last: %v)\n%s", err, logs.tail(8<<10))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The web app and the API must both be there: a missing route is a
	// failure of the wiring, not a reason to skip.
	res, err := sys.client.Post(sys.base+"/v1/sessions", "application/json; charset=utf-8", strings.NewReader(`{"nickname":"probe"}`))
	if err != nil {
		t.Fatalf("POST /v1/sessions: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/sessions answered %d: happychat dev does not serve the API", res.StatusCode)
	}
	return sys
}

// call sends a JSON request and decodes a JSON answer into out (if non-nil),
// returning the status.
func (s *webSystem) call(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return res.StatusCode
}

type apiUser struct {
	ID    string `json:"user_id"`
	Token string `json:"token"`
}

func (s *webSystem) newUser(t *testing.T, nickname string) apiUser {
	var u apiUser
	if code := s.call(t, "POST", "/v1/sessions", "", map[string]string{"nickname": nickname}, &u); code != http.StatusCreated {
		t.Fatalf("POST /v1/sessions: %d", code)
	}
	return u
}

// createRoom opens a room with the admin token and waits until the read
// side shows it.
func (s *webSystem) createRoom(t *testing.T, title, description string) string {
	var room struct {
		ID string `json:"id"`
	}
	if code := s.call(t, "POST", "/v1/rooms", s.adminToken, map[string]string{"title": title, "description": description}, &room); code != http.StatusCreated {
		t.Fatalf("POST /v1/rooms as admin: %d", code)
	}
	deadline := time.Now().Add(waitTimeout)
	for s.call(t, "GET", "/v1/rooms/"+room.ID, s.adminToken, nil, nil) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("room %s not readable within %s", room.ID, waitTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return room.ID
}

func (s *webSystem) joinStatus(t *testing.T, u apiUser, room string) int {
	return s.call(t, "POST", "/v1/rooms/"+room+"/join", u.Token, map[string]any{}, nil)
}

func (s *webSystem) join(t *testing.T, u apiUser, room string, want int) {
	if code := s.joinStatus(t, u, room); code != want {
		t.Fatalf("join %s: %d, want %d", room, code, want)
	}
}

func (s *webSystem) postMessage(t *testing.T, u apiUser, room, body string) {
	msg := map[string]string{"body": body, "client_msg_id": webUUID()}
	if code := s.call(t, "POST", "/v1/rooms/"+room+"/messages", u.Token, msg, nil); code != http.StatusCreated {
		t.Fatalf("POST message %q: %d", body, code)
	}
}

// ---------------------------------------------------------------------------
// The browser

type browser struct {
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// This machine has no outside network: every background fetch of
		// the browser would hang on it.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Tabs of hidden contexts must keep their timers running.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "en-US"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

type viewport struct {
	name          string
	width, height int64
	scale         float64
	mobile        bool
}

var (
	phone   = viewport{"phone", 390, 844, 2, true}
	desktop = viewport{"desktop", 1280, 800, 1, false}
)

type tabOption int

const (
	korean tabOption = iota + 1
	reducedMotion
	darkMode
)

// tab is one person: a page in its own browser context (its own storage,
// so its own session), which the subtest closes at its end.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	vp   viewport
}

func (b *browser) newTab(t *testing.T, name string, vp viewport, opts ...tabOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, ctx: ctx, vp: vp}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	// An uncaught exception in the app fails the test, whatever the page shows.
	var mu sync.Mutex
	var exceptions []string
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range exceptions {
			t.Errorf("%s: uncaught exception in the page: %s", name, e)
		}
	})
	vpOpts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.scale)}
	if vp.mobile {
		vpOpts = append(vpOpts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	tb.do(chromedp.EmulateViewport(vp.width, vp.height, vpOpts...))
	var media []*emulation.MediaFeature
	for _, o := range opts {
		switch o {
		case korean:
			ua := evalJS[string](tb, `navigator.userAgent`)
			tb.cdp(func(ctx context.Context) error {
				_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: "ko-KR,ko"})
				if err != nil {
					return err
				}
				_, err = chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "ko-KR"})
				return err
			})
		case reducedMotion:
			media = append(media, &emulation.MediaFeature{Name: "prefers-reduced-motion", Value: "reduce"})
		case darkMode:
			media = append(media, &emulation.MediaFeature{Name: "prefers-color-scheme", Value: "dark"})
		}
	}
	if len(media) > 0 {
		tb.cdp(func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: media})
			return err
		})
	}
	return tb
}

func (tb *tab) fail(format string, args ...any) {
	tb.t.Helper()
	tb.saveFailureShot()
	tb.t.Fatalf(tb.name+": "+format, args...)
}

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fail("%v", err)
	}
}

func (tb *tab) cdp(f func(ctx context.Context) error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		tb.fail("%v", err)
	}
}

func evalJS[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.fail("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS waits until expr is truthy in the page.
func (tb *tab) waitJS(expr, what string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout)))
	if err != nil {
		tb.fail("waiting for %s (%s): %v", what, expr, err)
	}
}

// waitJSRefreshing waits for expr while clicking refresh (if given) now and
// then: for what the read side shows after a projection catches up.
func (tb *tab) waitJSRefreshing(expr, refresh, what string) {
	tb.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !evalJS[bool](tb, "!!("+expr+")") {
		if time.Now().After(deadline) {
			tb.fail("waiting for %s (%s)", what, expr)
		}
		if refresh != "" {
			tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s)?.click()`, jsString(refresh))))
		} else {
			tb.do(chromedp.Reload())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

func (tb *tab) login(sys *webSystem, nickname string) {
	tb.t.Helper()
	if !strings.HasPrefix(evalJS[string](tb, `location.href`), sys.base) {
		tb.do(chromedp.Navigate(sys.base + "/"))
	}
	tb.waitJS(`!!document.querySelector('#nickname')`, "the nickname form")
	tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#nickname').value = ''`), chromedp.SendKeys(chromedp.ID("nickname"), nickname))
	tb.click(`#start`)
	tb.waitJS(`!!document.querySelector('#room-search') || !!document.querySelector('.room')`, "the screen after login")
}

func (tb *tab) openRoomFromList(room string) {
	tb.t.Helper()
	sel := fmt.Sprintf(`[data-room-id=%q] a.room-go`, room)
	tb.waitJS(fmt.Sprintf(`!!document.querySelector(%s)`, jsString(sel)), "the room's card")
	tb.click(sel)
	tb.waitRoomReady()
}

func (tb *tab) openRoomByURL(sys *webSystem, room string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(sys.base + "/rooms/" + room))
	tb.waitJS(`!!document.querySelector('#composer') || !!document.querySelector('#room-full')`, "the room or its full notice")
	if evalJS[bool](tb, `!!document.querySelector('#composer')`) {
		tb.waitRoomReady()
	}
}

func (tb *tab) waitRoomReady() {
	tb.t.Helper()
	tb.waitJS(`!!document.querySelector('#composer') && document.querySelector('#conn').dataset.state === 'online'`, "the room, connected")
}

func (tb *tab) typeAndEnter(text string) {
	tb.t.Helper()
	tb.do(chromedp.Focus(chromedp.ID("composer")), chromedp.SendKeys(chromedp.ID("composer"), text), pressEnter)
	tb.waitJS(`document.querySelector('#composer').value === ''`, "the message box emptied by Enter")
}

func (tb *tab) typeAndClickSend(text string) {
	tb.t.Helper()
	tb.do(chromedp.SendKeys(chromedp.ID("composer"), text))
	tb.click(`#send`)
	tb.waitJS(`document.querySelector('#composer').value === ''`, "the message box emptied by Send")
}

// pressEnter presses Enter on the focused element as a keyboard does, with
// no "char" event: SendKeys' "\r" would also insert a line break after the
// app has handled the keydown.
var pressEnter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
		})
		if err != nil {
			return err
		}
	}
	return nil
})

// waitMessage waits until text is shown as exactly n confirmed messages.
func (tb *tab) waitMessage(text string, n int) {
	tb.t.Helper()
	tb.waitJS(fmt.Sprintf(`[...document.querySelectorAll('#messages li.msg:not(.pending) .msg-body')].filter(e => e.textContent === %s).length === %d`, jsString(text), n),
		fmt.Sprintf("%q shown %d time(s)", text, n))
}

func (tb *tab) setOffline(offline bool) {
	tb.t.Helper()
	tb.cdp(func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, cdpnetwork.Enable, cdpnetwork.EnableParams{}); err != nil {
			return err
		}
		// The rule drops requests (the service worker's included); the
		// network state flips navigator.onLine and fires offline/online.
		_, err := chromedp.Call(ctx, cdpnetwork.EmulateNetworkConditionsByRule, cdpnetwork.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: &offline,
			MatchedNetworkConditions:    []*cdpnetwork.Conditions{{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1}},
		})
		if err != nil {
			return err
		}
		_, err = chromedp.Call(ctx, cdpnetwork.OverrideNetworkState, cdpnetwork.OverrideNetworkStateParams{Offline: offline, DownloadThroughput: -1, UploadThroughput: -1})
		return err
	})
}

// ---------------------------------------------------------------------------
// Screenshots

func (tb *tab) shot(name string) {
	tb.t.Helper()
	time.Sleep(400 * time.Millisecond) // let entry animations finish
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.fail("screenshot %s: %v", name, err)
	}
	saveScreenshot(tb.t, name+".png", png, *docsScreenshots && docsShots[name])
}

// docsShots are the screenshots that -docs-screenshots copies to
// docs/screenshots/: one of each screen, not every step.
var docsShots = map[string]bool{
	"rooms-phone": true, "rooms-desktop": false, "rooms-unread-phone": true,
	"room-phone": true, "room-desktop": true, "room-dark-desktop": true,
	"effect-balloons-phone": true, "room-full-phone": true, "offline-phone": true,
	"login-ko-phone": true, "rooms-ko-phone": false, "admin-desktop": true,
	"history-desktop": false, "inert-markup-phone": true, "back-online-phone": false,
	"offline-shell-phone": false, "message-changes-phone": true, "message-changes-desktop": true,
	// Issue 17's screens.
	"rooms-sections-phone": true, "rooms-search-desktop": true, "rooms-search-phone": false,
	"timeline-reload-phone": true, "timeline-reload-desktop": false, "room-offline-ko-phone": true,
	"members-sheet-phone0": true, "members-sheet-phone1": false, "moved-away-phone0": true, "moved-away-phone1": false,
	"admin-queue-desktop": true, "admin-queue-phone": false,
	// Issue 19's.
	"fallback-sse-phone": true, "typing-ko-phone": true,
	// Issue 20's screens.
	"private-room-invite-desktop": true, "invite-accepted-ko-phone": true, "dm-ko-phone": true, "conversations-desktop": true,
	"kick-confirm-desktop": true, "removed-ko-phone": true, "room-closed-ko-phone": true,
	"unban-desktop": true,
}

func (tb *tab) saveFailureShot() {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return
	}
	name := "FAILED-" + strings.NewReplacer("/", "-", " ", "-").Replace(tb.t.Name()) + "-" + tb.name + ".png"
	saveScreenshot(tb.t, name, png, false)
}

func saveScreenshot(t *testing.T, name string, png []byte, docs bool) {
	root := repoRoot(t)
	dirs := []string{filepath.Join(root, "artifacts", "screenshots")}
	if docs {
		dirs = append(dirs, filepath.Join(root, "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Errorf("screenshots: %v", err)
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Errorf("screenshots: %v", err)
		}
	}
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ---------------------------------------------------------------------------
// Small helpers

// requireBrowser skips a browser test under -short, and without Chromium
// outside CI.
func requireBrowser(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end tests need Chromium and the servers; skipped with -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		browserSkipOrFail(t, "Chromium at %s (deploy/local/browser.sh install): %v", chromiumPath, err)
	}
}

func browserSkipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("needed for the browser tests: "+format, args...)
	}
	t.Skipf("not available, skipping the browser tests: "+format, args...)
}

func webSuffix() string { return testenv.RandomHex(3) }

func webUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func firstN(s []string, n int) []string { return s[:min(n, len(s))] }

func webHasDuplicates(s []string) bool {
	seen := map[string]bool{}
	for _, v := range s {
		if seen[v] {
			return true
		}
		seen[v] = true
	}
	return false
}

// webLog collects the system's log for a failure report.
type webLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *webLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *webLog) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
