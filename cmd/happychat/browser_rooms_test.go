package main

// Browser scenarios of issue 17: finding rooms, one timeline across a
// reload, rooms offline, the phone room view, links; each screen also gets
// an accessibility check through Chromium's own accessibility tree.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// testRoomsFindAndPage: search (English and Korean), the sections, paging
// by scrolling, unread only where one has been, full rooms without a Join
// button, and the admin entry in the header once unlocked.
func testRoomsFindAndPage(t *testing.T, sys *webSystem, br *browser) {
	tag := "zz" + webSuffix()
	var rooms []string
	for i := range 30 {
		rooms = append(rooms, sys.createRoom(t, fmt.Sprintf("Paging %s %02d", tag, i), ""))
	}
	koRoom := sys.createRoom(t, "고양이 모임 "+tag, "냥냥")
	full := sys.createRoom(t, "Full house "+tag, "")
	for i := range 20 {
		sys.join(t, sys.newUser(t, fmt.Sprintf("filler%02d", i)), full, http.StatusOK)
	}
	writer := sys.newUser(t, "Writer")
	sys.join(t, writer, rooms[0], http.StatusOK)
	sys.postMessage(t, writer, rooms[0], "unread for members only")

	for _, c := range []struct {
		name string
		vp   viewport
		opts []tabOption
	}{{"finder-phone", phone, nil}, {"finder-desktop-ko", desktop, []tabOption{korean}}} {
		tb := br.newTab(t, c.name, c.vp, c.opts...)
		tb.login(sys, "Finder")
		// A newcomer has no unread anywhere, and no "your rooms" section.
		tb.waitJS(`document.querySelectorAll('#rooms-busiest .room-card').length > 0`, "the busiest rooms")
		if n := evalJS[int](tb, `document.querySelectorAll('.badge-unread').length`); n != 0 {
			t.Fatalf("%s: a newcomer sees %d unread badges", c.name, n)
		}
		if !evalJS[bool](tb, `document.querySelector('.rooms-section-mine').hidden`) {
			t.Fatalf("%s: a 'your rooms' section without rooms", c.name)
		}
		// Paging: the busiest list grows as its end scrolls into view.
		first := evalJS[int](tb, `document.querySelectorAll('#rooms-busiest .room-card').length`)
		tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.rooms-sentinel').scrollIntoView()`))
		tb.waitJS(fmt.Sprintf(`document.querySelectorAll('#rooms-busiest .room-card').length > %d`, first), "the next page of rooms")
		ids := evalJS[[]string](tb, `[...document.querySelectorAll('#rooms-busiest .room-card')].map(e => e.dataset.roomId)`)
		if webHasDuplicates(ids) {
			t.Fatalf("%s: a room twice in the busiest list", c.name)
		}
		// A full room has no primary action.
		fullSel := fmt.Sprintf(`[data-room-id=%q]`, full)
		tb.waitJS(fmt.Sprintf(`!!document.querySelector(%s)`, jsString(fullSel+" .room-go")), "the full room's card")
		if evalJS[bool](tb, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(fullSel+" .btn-primary"))) {
			t.Fatalf("%s: a full room shows a primary Join button", c.name)
		}
		// Search: server-side, any case; Korean too.
		tb.do(chromedp.SendKeys(chromedp.ID("room-search"), strings.ToUpper("paging "+tag+" 1")))
		tb.waitJS(`!document.querySelector('.rooms-section-results').hidden && document.querySelector('.rooms-section-busiest').hidden`, "the results section alone")
		tb.waitJS(`document.querySelectorAll('#rooms-results .room-card').length === 10`, "10 matches (Paging … 10–19)")
		tb.shot("rooms-search-" + c.vp.name)
		tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#room-search').value = ''`), chromedp.SendKeys(chromedp.ID("room-search"), "고양이 모임 "+tag))
		tb.waitJS(fmt.Sprintf(`(() => { const c = [...document.querySelectorAll('#rooms-results .room-card')]; return c.length === 1 && c[0].dataset.roomId === %q })()`, koRoom), "the Korean room found")
		tb.a11yCheck("rooms " + c.name)
	}

	// A member of the room sees its unread count and the room under "your rooms".
	member := br.newTab(t, "member", phone)
	member.login(sys, "Member")
	member.openRoomFromList(rooms[1])
	member.click(`#back`)
	member.waitJS(fmt.Sprintf(`!!document.querySelector('#rooms-mine [data-room-id=%q]')`, rooms[1]), "the room under 'your rooms'")
	member.shot("rooms-sections-phone")

	// The admin entry moves to the header once the admin token is entered.
	admin := br.newTab(t, "admin-nav", desktop)
	admin.login(sys, "Operator")
	if evalJS[bool](admin, `!document.querySelector('#admin-nav').hidden`) {
		t.Fatal("the header shows the admin entry before the admin token was entered")
	}
	// The link is the page's last line, under lists that grow when it
	// scrolls into view (the busiest rooms' next page): a click at its
	// position can land on a room card that moved there (CI, once). So
	// the link's own click, wherever it is by then.
	admin.do(chromedp.WaitVisible(chromedp.ID("admin-link")), chromedp.Evaluate[chromedp.Void](`document.querySelector('#admin-link').click()`))
	admin.waitJS(`!!document.querySelector('#admin-token-help')`, "the admin token explained")
	admin.do(chromedp.SendKeys(chromedp.ID("admin-token"), sys.adminToken))
	admin.click(`#admin-unlock button[type=submit]`)
	admin.waitJS(`!document.querySelector('#admin-nav').hidden`, "the admin entry in the header")
	admin.a11yCheck("admin")
}

// testTimelineSurvivesReload: the joins, leaves and messages seen live are
// the same lines, at the same times to the millisecond, after a reload,
// with a day separator and a time on every
// message; links are links, and only http(s) ones.
func testTimelineSurvivesReload(t *testing.T, sys *webSystem, br *browser) {
	for _, vp := range []viewport{phone, desktop} {
		room := sys.createRoom(t, "Same after reload "+webSuffix(), "")
		watcher := br.newTab(t, "watcher-"+vp.name, vp)
		watcher.login(sys, "Watcher")
		watcher.openRoomByURL(sys, room)
		visitor := sys.newUser(t, "하늘이 "+vp.name)
		sys.join(t, visitor, room, http.StatusOK)
		sys.postMessage(t, visitor, room, "see https://example.com/wiki/Cat_(animal). or javascript:alert(1) 🐱")
		sys.call(t, "POST", "/v1/rooms/"+room+"/leave", visitor.Token, map[string]any{}, nil)
		// Each line with the exact time it shows (a live join's is the
		// event's time from its frame, as the reloaded timeline's).
		lines := `[...document.querySelectorAll('#messages > li')].map(li => li.className.split(' ')[0] + ':' + (li.querySelector('time')?.getAttribute('datetime') ?? '') + ':' + (li.querySelector('.msg-body')?.textContent ?? li.textContent))`
		watcher.waitJS(fmt.Sprintf(`[...document.querySelectorAll('#messages .sys-left')].some(e => e.textContent.includes(%s))`, jsString("하늘이 "+vp.name)), "the live leave line")
		live := evalJS[[]string](watcher, lines)

		// Links: one, to the address without the sentence's full stop.
		links := evalJS[[]map[string]string](watcher, `[...document.querySelectorAll('#messages a')].map(a => ({href: a.href, rel: a.rel, target: a.target, text: a.textContent}))`)
		want := map[string]string{"href": "https://example.com/wiki/Cat_(animal)", "rel": "noopener noreferrer", "target": "_blank", "text": "https://example.com/wiki/Cat_(animal)"}
		if len(links) != 1 || fmt.Sprint(links[0]) != fmt.Sprint(want) {
			t.Fatalf("%s: links %v, want exactly %v", vp.name, links, want)
		}

		watcher.do(chromedp.Reload())
		watcher.waitRoomReady()
		watcher.waitJS(fmt.Sprintf(`[...document.querySelectorAll('#messages .sys-left')].some(e => e.textContent.includes(%s))`, jsString("하늘이 "+vp.name)), "the leave line after a reload")
		reloaded := evalJS[[]string](watcher, lines)
		if !slices.Equal(live, reloaded) {
			t.Fatalf("%s: the timeline changed on reload:\nlive     %q\nreloaded %q", vp.name, live, reloaded)
		}
		if n := evalJS[int](watcher, `document.querySelectorAll('#messages .day-sep').length`); n != 1 {
			t.Fatalf("%s: %d day separators, want 1 (everything today)", vp.name, n)
		}
		if !evalJS[bool](watcher, `[...document.querySelectorAll('#messages li.msg')].every(li => [...li.querySelectorAll('time')].some(e => e.offsetParent !== null && e.textContent))`) {
			t.Fatalf("%s: a message without a visible time", vp.name)
		}
		watcher.shot("timeline-reload-" + vp.name)
		watcher.a11yCheck("room " + vp.name)
	}
}

// testRoomOffline: a room seen before opens offline with its saved history;
// one never seen says so; both come back by themselves once online.
func testRoomOffline(t *testing.T, sys *webSystem, br *browser) {
	seen := sys.createRoom(t, "Saved for the subway "+webSuffix(), "")
	unseen := sys.createRoom(t, "Never opened "+webSuffix(), "")
	tb := br.newTab(t, "subway", phone, korean)
	tb.login(sys, "지하철")
	tb.waitJS(`navigator.serviceWorker.controller !== null`, "the service worker controls the page")
	tb.openRoomByURL(sys, seen)
	tb.typeAndEnter("저장해 둘 메시지")
	tb.waitMessage("저장해 둘 메시지", 1)
	// Both messages come over the socket after the page was read: the
	// saved page follows the socket (savedpage.js), so the room opens
	// offline with what was seen, not what was read; and the one taken
	// back leaves nothing of its text in Cache Storage.
	// (A key may go between keys() and match(): the app replaces and
	// evicts saved answers as it goes.)
	saved := func() string {
		return evalJS[string](tb, `caches.open('happychat-data-v1').then(c => c.keys().then(ks => Promise.all(ks.map(k => c.match(k).then(r => (r ? r.text() : '')))))).then(ts => ts.join('\n'))`)
	}
	waitSaved := func(what string, ok func(string) bool) {
		t.Helper()
		for deadline := time.Now().Add(waitTimeout); !ok(saved()); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the saved answers never showed %s", what)
			}
		}
	}
	tb.typeAndEnter("지울 메시지")
	gone := msgWith(tb, "지울 메시지")
	waitSaved("both messages", func(s string) bool {
		return strings.Contains(s, "저장해 둘 메시지") && strings.Contains(s, "지울 메시지")
	})
	tb.menuAction(gone, "delete")
	tb.click(`#delete-confirm`)
	tb.waitJS(fmt.Sprintf(`document.querySelector(%s)?.classList.contains('deleted')`, jsString(gone)), "the tombstone")
	tb.click(`#back`)
	waitSaved("the deletion", func(s string) bool {
		return !strings.Contains(s, "지울 메시지") && strings.Contains(s, "저장해 둘 메시지")
	})
	tb.setOffline(true)
	tb.do(chromedp.Navigate(sys.base + "/rooms/" + seen))
	tb.waitJS(`!document.querySelector('#offline-room-note')?.hidden`, "the saved-history note")
	tb.waitMessage("저장해 둘 메시지", 1)
	tb.waitJS(fmt.Sprintf(`document.querySelector(%s)?.classList.contains('deleted')`, jsString(gone)), "the tombstone, offline")
	tb.setOffline(false)
	tb.waitJS(`document.querySelector('#offline-room-note')?.hidden === true && !document.querySelector('#composer').disabled`, "the room open again")
	tb.waitRoomReady()
	// The newest timeline page is saved on each read too: read it once more.
	tb.do(chromedp.Reload())
	tb.waitRoomReady()
	tb.waitMessage("저장해 둘 메시지", 1)
	tb.click(`#back`)

	tb.setOffline(true)
	tb.do(chromedp.Navigate(sys.base + "/rooms/" + seen))
	tb.waitJS(`!document.querySelector('#offline-room-note')?.hidden`, "the saved-history note")
	tb.waitMessage("저장해 둘 메시지", 1)
	if evalJS[bool](tb, `!!document.querySelector('#room-problem')`) {
		t.Fatal("a saved room offline shows an error")
	}
	tb.shot("room-offline-ko-phone")
	tb.setOffline(false)
	tb.waitJS(`document.querySelector('#offline-room-note')?.hidden === true && !document.querySelector('#composer').disabled`, "the room open again")
	tb.waitRoomReady()

	tb.setOffline(true)
	tb.do(chromedp.Navigate(sys.base + "/rooms/" + unseen))
	tb.waitJS(`!!document.querySelector('#room-problem')`, "the offline notice")
	checkSafeMargins(t, tb, "#room-problem")
	tb.setOffline(false)
	tb.waitJS(`!document.querySelector('#room-problem') && !!document.querySelector('#composer')`, "the notice gone by itself")
	tb.waitRoomReady()
}

// testPhoneRoomView: the member sheet lies over the timeline without
// reflowing it and closes on its backdrop; Leave is labelled; the header
// does not say "Connected" once this user was moved out of the room.
func testPhoneRoomView(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Phone layout "+webSuffix(), "")
	other := sys.createRoom(t, "Elsewhere "+webSuffix(), "")
	for _, opts := range [][]tabOption{nil, {korean}} {
		tb := br.newTab(t, fmt.Sprintf("pocket%d", len(opts)), phone, opts...)
		tb.login(sys, "Pocket")
		tb.openRoomByURL(sys, room)
		width := evalJS[float64](tb, `document.querySelector('#timeline').getBoundingClientRect().width`)
		tb.click(`#members-toggle`)
		tb.waitJS(`!document.querySelector('#member-panel').hidden && !document.querySelector('.member-backdrop').hidden`, "the member sheet and its backdrop")
		if w := evalJS[float64](tb, `document.querySelector('#timeline').getBoundingClientRect().width`); w != width {
			t.Fatalf("the member sheet reflowed the timeline: width %v → %v", width, w)
		}
		tb.shot(fmt.Sprintf("members-sheet-phone%d", len(opts)))
		tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.member-backdrop').click()`))
		tb.waitJS(`document.querySelector('#member-panel').hidden && document.querySelector('.member-backdrop').hidden`, "the sheet closed by its backdrop")
		label := evalJS[string](tb, `document.querySelector('#leave .leave-label').textContent`)
		if !evalJS[bool](tb, `document.querySelector('#leave .leave-label').offsetWidth > 1`) || (label != "Leave room" && label != "방 나가기") {
			t.Fatalf("the Leave button reads %q or is not visible", label)
		}
		tb.a11yCheck("phone room")

		// Moved out (this user joins another room elsewhere).
		tok := evalJS[string](tb, `JSON.parse(localStorage.getItem('happychat.session')).token`)
		sys.join(t, apiUser{Token: tok}, other, http.StatusOK)
		tb.waitJS(`!!document.querySelector('#room-problem')`, "the moved-away notice")
		tb.waitJS(`document.querySelector('#conn').dataset.state !== 'online' || !['Connected', '연결됨'].includes(document.querySelector('#conn').textContent)`, "the header no longer saying connected")
		checkSafeMargins(t, tb, "#room-problem")
		tb.shot(fmt.Sprintf("moved-away-phone%d", len(opts)))
	}
}

// checkSafeMargins: a card keeps at least 12 px from both screen edges.
func checkSafeMargins(t *testing.T, tb *tab, sel string) {
	t.Helper()
	left := evalJS[float64](tb, fmt.Sprintf(`document.querySelector(%s).getBoundingClientRect().left`, jsString(sel)))
	right := evalJS[float64](tb, fmt.Sprintf(`innerWidth - document.querySelector(%s).getBoundingClientRect().right`, jsString(sel)))
	if left < 12 || right < 12 {
		t.Fatalf("%s: %s is %v px from the left edge and %v from the right, want at least 12", tb.name, sel, left, right)
	}
}

// a11yCheck reads Chromium's accessibility tree of the page and fails on
// what WCAG 2.1 A/AA rules a tree shows: a control, link, image or heading
// without an accessible name (4.1.2, 1.1.1, 2.4.6), a page without a
// language (3.1.1) or without a main landmark or level-1 heading (1.3.1,
// 2.4.2 as the app does them). Contrast and focus order are not in the tree.
func (tb *tab) a11yCheck(screen string) {
	tb.t.Helper()
	var nodes []*accessibility.Node
	tb.cdp(func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, accessibility.Enable, cdp.Empty{}); err != nil {
			return err
		}
		res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		nodes = res.Nodes
		return err
	})
	str := func(v *accessibility.Value) string {
		if v == nil {
			return ""
		}
		var s string
		if json.Unmarshal(v.Value, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	}
	named := map[string]bool{"button": true, "link": true, "textbox": true, "searchbox": true, "checkbox": true, "combobox": true, "image": true, "img": true, "heading": true, "switch": true}
	var problems []string
	roles := map[string]int{}
	for _, n := range nodes {
		if n.Ignored {
			continue
		}
		role := str(n.Role)
		roles[role]++
		if named[role] && str(n.Name) == "" {
			problems = append(problems, fmt.Sprintf("a %s without a name (backend node %d)", role, n.BackendDOMNodeID))
		}
	}
	if roles["main"] == 0 {
		problems = append(problems, "no main landmark")
	}
	if evalJS[string](tb, `document.documentElement.lang`) == "" {
		problems = append(problems, "no page language")
	}
	if evalJS[int](tb, `[...document.querySelectorAll('h1')].filter(e => e.offsetParent !== null).length`) == 0 {
		problems = append(problems, "no visible level-1 heading")
	}
	problems = append(problems, tb.axeViolations()...)
	if len(problems) > 0 {
		tb.fail("accessibility of %s: %s", screen, strings.Join(problems, "; "))
	}
}

// axeViolations runs axe-core (HAPPYCHAT_AXE: deploy/local/browser.sh
// install fetches it, env.sh exports it) on the page with the WCAG 2.0/2.1
// A and AA rules, which adds what the accessibility tree does not show:
// contrast, ARIA attributes and roles, lists, labels. Injected through
// DevTools, which the page's CSP does not govern. Without it, CI fails and
// a run by hand notes it.
func (tb *tab) axeViolations() []string {
	tb.t.Helper()
	path := os.Getenv("HAPPYCHAT_AXE")
	if path == "" {
		if os.Getenv("CI") != "" {
			tb.fail("HAPPYCHAT_AXE is not set: deploy/local/browser.sh install, then eval \"$(deploy/local/env.sh)\"")
		}
		tb.t.Log("axe-core not installed (deploy/local/browser.sh install): only the accessibility tree checked")
		return nil
	}
	src, err := os.ReadFile(path) //nolint:gosec // G703: the path is the test run's own setting (env.sh), not input
	if err != nil {
		tb.fail("axe-core: %v", err)
	}
	if !evalJS[bool](tb, `typeof window.axe === 'object'`) {
		evalJS[any](tb, string(src)+";0")
	}
	type violation struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []any `json:"target"`
		} `json:"nodes"`
	}
	vs := evalJS[[]violation](tb, `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']}).then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => ({target: n.target}))})))`)
	var out []string
	for _, v := range vs {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target...))
		}
		out = append(out, fmt.Sprintf("axe %s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(where, ", ")))
	}
	return out
}

// testAdminQueue: the proposals queue names the proposer and the date, and
// rejects (room.rejected) as well as approves; a rejected proposal is
// listed nowhere after.
func testAdminQueue(t *testing.T, sys *webSystem, br *browser) {
	proposer := sys.newUser(t, "제안자 Pat")
	propose := func(title string) string {
		var room struct {
			ID string `json:"id"`
		}
		if code := sys.call(t, "POST", "/v1/rooms", proposer.Token, map[string]string{"title": title}, &room); code != http.StatusAccepted {
			t.Fatalf("propose %q: %d", title, code)
		}
		return room.ID
	}
	suffix := webSuffix()
	keep, drop := propose("Keep me "+suffix), propose("Drop me "+suffix)

	for i, vp := range []viewport{desktop, phone} {
		var opts []tabOption
		if i == 1 {
			opts = []tabOption{korean}
		}
		admin := br.newTab(t, "queue-"+vp.name, vp, opts...)
		admin.login(sys, "Operator")
		admin.do(chromedp.Navigate(sys.base + "/admin"))
		admin.waitJS(`!!document.querySelector('#admin-token')`, "the admin token form")
		admin.do(chromedp.SendKeys(chromedp.ID("admin-token"), sys.adminToken))
		admin.click(`#admin-unlock button[type=submit]`)
		sel := func(id string) string { return fmt.Sprintf(`#proposal-list li[data-room-id=%q]`, id) }
		target := keep
		if i == 0 {
			target = drop
		}
		admin.waitJSRefreshing(fmt.Sprintf(`!!document.querySelector(%s)`, jsString(sel(target))), "#admin-refresh", "the proposal in the queue")
		meta := evalJS[string](admin, fmt.Sprintf(`document.querySelector(%s).querySelector('.proposal-meta').textContent`, jsString(sel(target))))
		if !strings.Contains(meta, "제안자 Pat") || !evalJS[bool](admin, fmt.Sprintf(`!!document.querySelector(%s).querySelector('.proposal-meta time[datetime]')`, jsString(sel(target)))) {
			t.Fatalf("%s: the proposal's meta %q lacks the proposer or the date", vp.name, meta)
		}
		if lead := evalJS[string](admin, `document.querySelector('.page-head .lead').textContent`); strings.Contains(lead, "token") || strings.Contains(lead, "토큰") {
			t.Fatalf("%s: the intro %q still asks for the token after unlocking", vp.name, lead)
		}
		admin.shot("admin-queue-" + vp.name)
		admin.a11yCheck("admin queue " + vp.name)
		if i == 0 {
			admin.click(sel(drop) + " button.reject")
			admin.waitJS(fmt.Sprintf(`!document.querySelector(%s)`, jsString(sel(drop))), "the rejected proposal gone")
			var room struct {
				Status string `json:"status"`
			}
			if code := sys.call(t, "GET", "/v1/rooms/"+drop, sys.adminToken, nil, &room); code != http.StatusOK {
				t.Fatalf("GET the rejected room: %d", code)
			}
			waitRejected := time.Now().Add(waitTimeout)
			for room.Status != "rejected" {
				if time.Now().After(waitRejected) {
					t.Fatalf("the rejected proposal reads as %q", room.Status)
				}
				time.Sleep(200 * time.Millisecond)
				sys.call(t, "GET", "/v1/rooms/"+drop, sys.adminToken, nil, &room)
			}
			var list struct {
				Rooms []struct {
					ID string `json:"id"`
				} `json:"rooms"`
			}
			sys.call(t, "GET", "/v1/rooms?status=proposed", sys.adminToken, nil, &list)
			for _, r := range list.Rooms {
				if r.ID == drop {
					t.Fatal("a rejected proposal is still listed as proposed")
				}
			}
		} else {
			admin.click(sel(keep) + " button.approve")
			admin.waitJS(fmt.Sprintf(`!document.querySelector(%s)`, jsString(sel(keep))), "the approved proposal gone from the queue")
		}
	}
}
