package main

// Browser scenario of issue 20's moderation: reporting a message, the
// admins' report queue resolving it, and blocking a member.

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

func init() {
	for _, name := range []string{"report-dialog-ko-phone", "admin-reports-desktop", "block-hidden-desktop", "blocked-users-desktop", "block-member-phone"} {
		docsShots[name] = true
	}
}

// testBlocksReports: Alice (desktop) and 민지 (Korean, phone) share a room.
// 민지 reports Alice's message from its ⚑ (the dialog in Korean); the admin
// finds it in the report queue with its text and deletes it, and both see
// the tombstone. Then Alice blocks 민지 from the member list: 민지's next
// message never shows for Alice (her own later message does), the blocked
// users dialog lists 민지, and unblocking shows 민지's messages again.
func testBlocksReports(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Moderation "+webSuffix(), "")
	alice := br.newTab(t, "alice-moderation", desktop)
	alice.login(sys, "Alice")
	alice.openRoomByURL(sys, room)
	minji := br.newTab(t, "minji-moderation", phone, korean)
	minji.login(sys, "민지")
	minji.openRoomByURL(sys, room)
	minjiID := minji.sessionUserID()

	rude := "buy cheap stuff " + webSuffix()
	alice.typeAndEnter(rude)
	minji.waitMessage(rude, 1)
	minji.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll('#messages li.msg')].find(li => li.querySelector('.msg-body').textContent === %s).querySelector('.msg-report').click()`, jsString(rude))))
	minji.waitJS(`document.querySelector('#report-dialog')?.open && document.querySelector('#report-title').textContent === '이 메시지 신고하기'`, "the report dialog, in Korean")
	minji.click(`#report-reason-spam`)
	minji.do(chromedp.SendKeys(chromedp.ID("report-note"), "광고예요"))
	minji.shot("report-dialog-ko-phone")
	minji.click(`#report-send`)
	minji.waitJS(`!document.querySelector('#report-dialog')`, "the dialog closed after the report")

	admin := br.newTab(t, "admin-reports", desktop)
	admin.login(sys, "Operator")
	admin.click(`#admin-link`)
	admin.do(chromedp.SendKeys(chromedp.ID("admin-token"), sys.adminToken))
	admin.click(`#admin-unlock button[type=submit]`)
	admin.waitJSRefreshing(fmt.Sprintf(`[...document.querySelectorAll('#report-list .report-text')].some(e => e.textContent === %s)`, jsString(rude)), "#admin-refresh", "the report with its message's text")
	admin.shot("admin-reports-desktop")
	admin.a11yCheck("admin-reports")
	admin.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll('#report-list li.report')].find(li => li.querySelector('.report-text').textContent === %s).querySelector('.report-delete').click()`, jsString(rude))))
	admin.waitJS(fmt.Sprintf(`![...document.querySelectorAll('#report-list .report-text')].some(e => e.textContent === %s)`, jsString(rude)), "the report gone from the queue")
	for _, tb := range []*tab{alice, minji} {
		tb.waitJS(fmt.Sprintf(`![...document.querySelectorAll('#messages .msg-body')].some(e => e.textContent === %s) && !!document.querySelector('#messages li.msg.deleted')`, jsString(rude)), "the reported message deleted")
	}

	// Alice blocks 민지 from the member list.
	alice.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`))
	sel := fmt.Sprintf(`#member-list li[data-user-id=%q] .member-block`, minjiID)
	alice.waitJS(fmt.Sprintf(`!!document.querySelector(%s)`, jsString(sel)), "the Block action in 민지's row")
	alice.click(sel)
	alice.waitJS(fmt.Sprintf(`document.querySelector(%s).getAttribute('aria-pressed') === 'true'`, jsString(sel)), "민지 blocked")
	hidden, after := "안 보여야 해요 "+webSuffix(), "still here "+webSuffix()
	postAs(t, minji, room, hidden)
	minji.waitMessage(hidden, 1)
	// Frames arrive in the room's order: once Alice's later message is
	// confirmed, 민지's earlier one has been through her screen.
	alice.typeAndEnter(after)
	alice.waitMessage(after, 1)
	if evalJS[bool](alice, fmt.Sprintf(`[...document.querySelectorAll('#messages .msg-body')].some(e => e.textContent === %s)`, jsString(hidden))) {
		t.Fatal("a blocked member's message is shown to the blocker")
	}
	alice.shot("block-hidden-desktop")
	minji.waitMessage(after, 1)
	minji.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#members-toggle').click()`))
	minji.waitJS(`!document.querySelector('#member-panel').hidden`, "the members sheet")
	minji.shot("block-member-phone")

	alice.click(`#blocked-open`)
	alice.waitJS(fmt.Sprintf(`document.querySelector('#blocked-dialog')?.open && !!document.querySelector('#blocked-list li[data-user-id=%q]')`, minjiID), "민지 in the blocked users dialog")
	alice.shot("blocked-users-desktop")
	alice.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#blocked-list .unblock').click()`))
	alice.waitJS(`!!document.querySelector('#blocked-list .empty')`, "the list empty after unblocking")
	alice.click(`#blocked-close`)
	again := "다시 보여요 " + webSuffix()
	postAs(t, minji, room, again)
	alice.waitMessage(again, 1)
}

// postAs sends a message as the tab's user through the API from its page
// (the keyboard of a tab in the background does not always reach it).
func postAs(t *testing.T, tb *tab, room, body string) {
	t.Helper()
	st := evalJS[float64](tb, fmt.Sprintf(`fetch('/v1/rooms/%s/messages', {method: 'POST', headers: {'Content-Type': 'application/json',
		Authorization: 'Bearer ' + JSON.parse(localStorage.getItem('happychat.session')).token},
		body: JSON.stringify({body: %s, client_msg_id: 'b-' + Math.random().toString(36).slice(2)})}).then(r => r.status)`, room, jsString(body)))
	if st != 201 {
		t.Fatalf("post as %s: %v", tb.name, st)
	}
}
