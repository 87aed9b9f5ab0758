package main

// Browser scenario of issue 20, part 4: an owner removes a member of a
// private room from the members sheet.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// testModeration: Alice opens a private room and invites Jun (Korean, on a
// phone). Alice sees Remove and Ban next to Jun in the members sheet (not
// next to herself), confirms a removal in a dialog, and her timeline says
// "Jun was removed by Alice"; Jun's screen says he was removed (in Korean),
// not an error, with no way to rejoin offered. Back by the invite, Jun is
// banned: Alice's sheet lists him under "Banned (1)", she lifts the ban,
// and Jun enters again.
func testModeration(t *testing.T, sys *webSystem, br *browser) {
	title := "Mods " + webSuffix()
	alice := br.newTab(t, "alice-owner", desktop)
	alice.login(sys, "Alice")
	alice.do(chromedp.Navigate(sys.base + "/"))
	alice.waitJS(`!!document.querySelector('#private-title')`, "the conversations section")
	alice.do(chromedp.SendKeys(chromedp.ID("private-title"), title))
	alice.click(`#private-create`)
	alice.waitRoomReady()
	alice.click(`#invite`)
	alice.waitJS(`!document.querySelector('#invite-link').hidden && document.querySelector('#invite-link').value.includes('#invite=')`, "the invite link")
	link := evalJS[string](alice, `document.querySelector('#invite-link').value`)

	jun := br.newTab(t, "jun-removed", phone, korean)
	jun.login(sys, "Jun")
	if !strings.HasPrefix(link, sys.base+"/#invite=") {
		t.Fatalf("invite link %q", link)
	}
	jun.do(chromedp.Navigate(link))
	jun.waitJS(fmt.Sprintf(`document.querySelector('#room-title')?.textContent === %s`, jsString(title)), "the private room opened by the invite")
	jun.waitRoomReady()
	if evalJS[bool](jun, `!!document.querySelector('.member-kick')`) {
		t.Fatal("a member who is not the owner is offered Remove")
	}

	alice.click(`#members-toggle`)
	alice.waitJS(`document.querySelectorAll('#member-list li').length === 2 && !!document.querySelector('#member-list li:not(.me) .member-kick')`, "Remove next to Jun")
	if evalJS[bool](alice, `!!document.querySelector('#member-list li.me .member-kick')`) {
		t.Fatal("Remove offered next to the owner herself")
	}
	if label := evalJS[string](alice, `document.querySelector('#member-list li:not(.me) .member-kick').getAttribute('aria-label')`); label != "Remove Jun from this room" {
		t.Fatalf("Remove's label %q", label)
	}
	// A script click, as for the Message button: the sheet's buttons may
	// sit under the panel's scroll on a small window.
	alice.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#member-list li:not(.me) .member-kick').click()`))
	alice.waitJS(`document.querySelector('#mod-dialog')?.open === true && document.activeElement?.id === 'mod-cancel'`, "the confirm dialog, focus on Cancel")
	alice.do(chromedp.SendKeys(chromedp.ID("mod-reason"), "off topic"))
	alice.shot("kick-confirm-desktop")
	alice.click(`#mod-confirm`)
	alice.waitJS(`[...document.querySelectorAll('#timeline .sys-removed')].some(li => li.textContent.includes('Jun was removed by Alice'))`, "the removal line")
	alice.waitJS(`document.querySelectorAll('#member-list li').length === 1`, "Jun gone from the members")
	alice.a11yCheck("moderation")

	jun.waitJS(`document.querySelector('#room-removed')?.dataset.reason === 'removed' && document.querySelector('#room-removed h1').textContent === '이 방에서 내보내졌어요'`, "Jun told he was removed, in Korean")
	if evalJS[bool](jun, `[...document.querySelectorAll('#room-removed button')].length > 0`) {
		t.Fatal("the removed card offers to rejoin")
	}
	jun.shot("removed-ko-phone")

	// Jun comes back by the invite; Alice bans him: the members sheet shows
	// "Banned (1)" with an Unban button; she lifts the ban (confirmed) and
	// the section goes; Jun enters by the invite again.
	enter := func() {
		jun.do(chromedp.Navigate(link))
		jun.waitJS(fmt.Sprintf(`document.querySelector('#room-title')?.textContent === %s`, jsString(title)), "the private room opened by the invite")
		jun.waitRoomReady()
	}
	enter()
	alice.waitJS(`document.querySelectorAll('#member-list li').length === 2 && !!document.querySelector('#member-list li:not(.me) .member-ban')`, "Ban next to Jun")
	if !evalJS[bool](alice, `document.querySelector('#ban-section').hidden`) {
		t.Fatal("a Banned section with nobody banned")
	}
	alice.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#member-list li:not(.me) .member-ban').click()`))
	alice.waitJS(`document.querySelector('#mod-dialog')?.open === true`, "the ban confirm dialog")
	alice.click(`#mod-confirm`)
	alice.waitJS(`!document.querySelector('#ban-section').hidden && document.querySelector('#ban-heading').textContent === 'Banned (1)' && document.querySelector('#ban-list li')?.textContent.includes('Jun')`, "Banned (1) with Jun")
	if label := evalJS[string](alice, `document.querySelector('#ban-list .member-unban').getAttribute('aria-label')`); label != "Lift the ban on Jun" {
		t.Fatalf("Unban's label %q", label)
	}
	if evalJS[bool](jun, `!!document.querySelector('#ban-section') && !document.querySelector('#ban-section').hidden`) {
		t.Fatal("the ban list shown to a member who is not the owner")
	}
	jun.waitJS(`document.querySelector('#room-removed')?.dataset.reason === 'banned'`, "Jun told he was banned")
	if evalJS[bool](alice, `document.querySelector('#member-panel').hidden`) {
		alice.click(`#members-toggle`)
	}
	alice.waitJS(`!document.querySelector('#member-panel').hidden`, "the members sheet open")
	alice.shot("unban-desktop")
	alice.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#ban-list .member-unban').click()`))
	alice.waitJS(`document.querySelector('#mod-dialog')?.open === true && document.activeElement?.id === 'mod-cancel'`, "the unban confirm dialog, focus on Cancel")
	alice.click(`#mod-confirm`)
	alice.waitJS(`document.querySelector('#ban-section').hidden`, "the Banned section gone after the unban")
	alice.a11yCheck("unban")
	enter()

	// An admin (the admin token entered in this tab) closes a topic room
	// from its header: the line shows, the composer is disabled, and Jun,
	// a member there, sees the same live.
	topic := sys.createRoom(t, "Meetup "+webSuffix(), "")
	jun.openRoomByURL(sys, topic)
	admin := br.newTab(t, "admin-close", desktop)
	admin.login(sys, "Operator")
	admin.do(chromedp.Navigate(sys.base + "/admin"))
	admin.waitJS(`!!document.querySelector('#admin-token')`, "the admin token form")
	admin.do(chromedp.SendKeys(chromedp.ID("admin-token"), sys.adminToken))
	admin.click(`#admin-unlock button[type=submit]`)
	admin.waitJS(`!document.querySelector('#admin-nav').hidden`, "the admin entry in the header")
	admin.openRoomByURL(sys, topic)
	admin.waitJS(`!!document.querySelector('#close-topic')`, "Close topic for the admin")
	if evalJS[bool](jun, `!!document.querySelector('#close-topic')`) {
		t.Fatal("Close topic offered to a member who is not an admin")
	}
	admin.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#close-topic').click()`))
	admin.waitJS(`document.querySelector('#mod-dialog')?.open === true`, "the close confirm dialog")
	admin.click(`#mod-confirm`)
	admin.waitJS(`!!document.querySelector('#timeline .sys-closed') && document.querySelector('#composer').disabled`, "the closed line, the composer disabled")
	jun.waitJS(`!!document.querySelector('#timeline .sys-closed') && document.querySelector('#composer').disabled && document.querySelector('#send').disabled`, "Jun sees the room closed")
	jun.shot("room-closed-ko-phone")
}
