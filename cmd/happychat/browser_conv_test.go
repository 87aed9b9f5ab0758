package main

// Browser scenario of issue 20: private rooms, invite links and direct
// messages in the web client.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// testConversations: Alice, in a topic room, opens a private room from the
// front page and makes an invite link; Minji (Korean, on a phone) follows
// the link, lands in the private room, and opens a direct message with
// Alice from its member list; Alice's front page then lists both under
// "Private rooms and messages", and her topic room still has her.
func testConversations(t *testing.T, sys *webSystem, br *browser) {
	suffix := webSuffix()
	lobby := sys.createRoom(t, "Lobby "+suffix, "")
	title := "Friends " + suffix

	alice := br.newTab(t, "alice-private", desktop)
	alice.login(sys, "Alice")
	alice.openRoomByURL(sys, lobby)
	alice.do(chromedp.Navigate(sys.base + "/"))
	alice.waitJS(`!!document.querySelector('#private-title')`, "the conversations section")
	alice.do(chromedp.SendKeys(chromedp.ID("private-title"), title))
	alice.click(`#private-create`)
	alice.waitRoomReady()
	alice.waitJS(fmt.Sprintf(`document.querySelector('#room-title').textContent === %s`, jsString(title)), "the private room's title")
	alice.click(`#invite`)
	alice.waitJS(`!document.querySelector('#invite-link').hidden && document.querySelector('#invite-link').value.includes('#invite=')`, "the invite link")
	link := evalJS[string](alice, `document.querySelector('#invite-link').value`)
	alice.shot("private-room-invite-desktop")

	minji := br.newTab(t, "minji-invited", phone, korean)
	minji.login(sys, "민지")
	if !strings.HasPrefix(link, sys.base+"/#invite=") {
		t.Fatalf("invite link %q", link)
	}
	minji.do(chromedp.Navigate(link))
	minji.waitJS(fmt.Sprintf(`location.pathname.startsWith('/rooms/') && document.querySelector('#room-title')?.textContent === %s`, jsString(title)), "the private room opened by the invite")
	minji.waitRoomReady()
	minji.waitJS(`document.querySelectorAll('#member-list li').length === 2`, "both members")
	minji.shot("invite-accepted-ko-phone")
	minji.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#member-list li:not(.me) .member-dm').click()`))
	minji.waitJS(`document.querySelector('#room-title')?.textContent === 'Alice님과의 메시지'`, "the DM with Alice, named in Korean")
	minji.waitRoomReady()
	minji.typeAndEnter("안녕하세요 👋")
	minji.waitMessage("안녕하세요 👋", 1)
	minji.shot("dm-ko-phone")

	alice.do(chromedp.Navigate(sys.base + "/"))
	alice.waitJSRefreshing(`document.querySelectorAll('#conversation-list li').length === 2 && !!document.querySelector('#conversation-list [data-kind=direct]')`, "#refresh", "the private room and the DM listed")
	if evalJS[bool](alice, fmt.Sprintf(`[...document.querySelectorAll('.room-card')].some(c => !c.closest('#conversation-list') && c.textContent.includes(%s))`, jsString(title))) {
		t.Fatal("the private room is listed among the topics")
	}
	alice.shot("conversations-desktop")
	alice.a11yCheck("conversations")

	var room struct {
		Members []struct {
			Nickname string `json:"nickname"`
		} `json:"members"`
	}
	if code := sys.call(t, "GET", "/v1/rooms/"+lobby, sys.adminToken, nil, &room); code != http.StatusOK || len(room.Members) != 1 || room.Members[0].Nickname != "Alice" {
		t.Fatalf("the lobby after the private room and the DM: %d %+v", code, room.Members)
	}
}
