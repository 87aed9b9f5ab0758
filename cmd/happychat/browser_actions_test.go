package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The edit window of these scenarios: long enough for an edit made at once
// on a busy machine, short enough that the late edit's wait is bearable.
const actionsEditWindow = 45 * time.Second

// TestBrowserMessageActions: what a person does to a message from the web
// client's message menu (⋯, a long press, the keyboard): edit, delete,
// reply and jump, react, mention a member picked from the room's list;
// each seen by another member; refused offline; a late edit refused with
// the server's words. Its own system, for its own edit window.
func TestBrowserMessageActions(t *testing.T) {
	requireBrowser(t)
	sys := startWebSystemWith(t, map[string]string{"CHAT_EDIT_WINDOW": actionsEditWindow.String()})
	br := newBrowser(t)
	t.Run("EditDeleteOfflineAndLate", func(t *testing.T) { testEditDelete(t, sys, br) })
	t.Run("ReplyJumpsToTheOriginal", func(t *testing.T) { testReplyJump(t, sys, br) })
	t.Run("ReactionToggleSeenByOthers", func(t *testing.T) { testReactions(t, sys, br) })
	t.Run("MentionPickedByIDKorean", func(t *testing.T) { testMentionPicker(t, sys, br) })
}

// msgWith waits for the confirmed message whose text is body and returns its selector.
func msgWith(tb *tab, body string) string {
	tb.t.Helper()
	tb.waitMessage(body, 1)
	id := evalJS[string](tb, fmt.Sprintf(`[...document.querySelectorAll('#messages li.msg:not(.pending)')].find(li => li.querySelector('.msg-body').textContent === %s).dataset.id`, jsString(body)))
	return fmt.Sprintf(`li.msg[data-id=%q]`, id)
}

// menuAction opens the ⋯ menu of the message sel and picks the action.
func (tb *tab) menuAction(sel, action string) {
	tb.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).scrollIntoView({block: 'center'})`, jsString(sel))))
	tb.click(sel + " .msg-more")
	tb.waitJS(`document.activeElement?.getAttribute('role') === 'menuitem'`, "the menu open, its first item focused")
	tb.click(fmt.Sprintf(`#msg-menu [data-action=%q]`, action))
}

func (tb *tab) key(keys string) {
	tb.t.Helper()
	tb.do(chromedp.KeyEvent(keys))
}

func testEditDelete(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Second thoughts "+webSuffix(), "edit and take back")
	ann := br.newTab(t, "ann", phone)
	bob := br.newTab(t, "bob", desktop)
	ann.login(sys, "Ann")
	bob.login(sys, "Bob")
	ann.openRoomByURL(sys, room)
	bob.openRoomByURL(sys, room)

	ann.typeAndEnter("Cats are teh best")
	typo := msgWith(ann, "Cats are teh best")
	// Edit in the composer: the text goes in, the line says so; a draft
	// being written comes back after.
	ann.do(chromedp.SendKeys(chromedp.ID("composer"), "draft"))
	ann.menuAction(typo, "edit")
	ann.waitJS(`document.querySelector('#composer').value === 'Cats are teh best' && !document.querySelector('#composer-mode').hidden && document.activeElement.id === 'composer'`, "the text in the composer, editing")
	ann.a11yCheck("editing")
	ann.key(kb.Escape)
	ann.waitJS(`document.querySelector('#composer').value === 'draft' && document.querySelector('#composer-mode').hidden`, "Escape cancels, the draft back")
	ann.menuAction(typo, "edit")
	ann.do(chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector('#composer'); c.value = 'Cats are the best'; c.dispatchEvent(new Event('input')); })()`), pressEnter)
	ann.waitJS(`document.querySelector('#composer').value === 'draft'`, "the draft back after saving")
	for _, tb := range []*tab{ann, bob} {
		tb.waitJS(fmt.Sprintf(`document.querySelector(%s)?.querySelector('.msg-body').textContent === 'Cats are the best' && !!document.querySelector(%[1]s).querySelector('.msg-edited')`, jsString(typo)), "the edited text and mark")
	}
	ann.shot("msg-edited-phone")
	ann.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#composer').value = ''`))

	// Keyboard: Bob reaches Ann's message's ⋯, walks the menu, Escape
	// closes it and focus returns; only Reply and React are his to do.
	bob.do(chromedp.Focus(chromedp.CSS(typo + " .msg-more")))
	bob.key("\r")
	bob.waitJS(`document.activeElement?.dataset.action === 'reply'`, "the menu's first item focused")
	bob.a11yCheck("the message menu")
	if got := evalJS[[]string](bob, `[...document.querySelectorAll('#msg-menu [role=menuitem]')].map(b => b.dataset.action)`); !slices.Equal(got, []string{"reply", "react"}) {
		t.Fatalf("Bob's menu on Ann's message: %v, want reply and react", got)
	}
	bob.key(kb.ArrowDown)
	bob.waitJS(`document.activeElement?.dataset.action === 'react'`, "ArrowDown moves")
	bob.key(kb.Escape)
	bob.waitJS(fmt.Sprintf(`!document.querySelector('#msg-menu') && document.activeElement === document.querySelector(%s)`, jsString(typo+" .msg-more")), "the menu closed, focus back on ⋯")

	// Delete, confirmed: a tombstone on both screens, the text nowhere.
	ann.typeAndEnter("wrong room, sorry")
	oops := msgWith(ann, "wrong room, sorry")
	ann.menuAction(oops, "delete")
	ann.waitJS(`document.querySelector('#delete-dialog')?.open && document.activeElement.id === 'delete-cancel'`, "the confirm dialog, Cancel focused")
	ann.click(`#delete-confirm`)
	for _, tb := range []*tab{ann, bob} {
		tb.waitJS(fmt.Sprintf(`document.querySelector(%s)?.classList.contains('deleted') && !document.querySelector('#messages').textContent.includes('wrong room')`, jsString(oops)), "the tombstone")
	}
	bob.shot("msg-deleted-desktop")

	// Offline, a change is refused with a toast, never queued.
	ann.typeAndEnter("late one")
	late := msgWith(ann, "late one")
	sentAt := time.Now()
	ann.setOffline(true)
	ann.menuAction(late, "delete")
	ann.click(`#delete-confirm`)
	ann.waitJS(`!document.querySelector('#toast').hidden && document.querySelector('#toast').textContent.includes('offline')`, "the offline refusal")
	ann.setOffline(false)
	ann.waitRoomReady()
	if evalJS[bool](ann, fmt.Sprintf(`document.querySelector(%s).classList.contains('deleted')`, jsString(late))) {
		t.Fatal("a delete refused offline was done")
	}

	// Past the window the server refuses the edit; its words are shown.
	time.Sleep(time.Until(sentAt.Add(actionsEditWindow + 2*time.Second)))
	ann.menuAction(late, "edit")
	ann.do(chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector('#composer'); c.value = 'too late'; c.dispatchEvent(new Event('input')); })()`), pressEnter)
	ann.waitJS(`document.querySelector('#toast').textContent.includes('only within')`, "the server's refusal shown")
	ann.waitJS(`!document.querySelector('#composer-mode').hidden`, "still editing, nothing lost")

	// With the admin token in his tab (the admin screen keeps it there),
	// Bob may delete anyone's message: Ann's screen shows the tombstone.
	bob.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`sessionStorage.setItem('happychat.admin', JSON.stringify(%s))`, jsString(sys.adminToken))))
	bob.menuAction(late, "delete")
	bob.click(`#delete-confirm`)
	ann.waitJS(fmt.Sprintf(`document.querySelector(%s)?.classList.contains('deleted') && document.querySelector('#composer-mode').hidden`, jsString(late)), "the admin's delete on Ann's screen, her edit of it ended")
}

func testReplyJump(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Long talk "+webSuffix(), "replies far back")
	ann := br.newTab(t, "ann", phone)
	ann.login(sys, "Ann")
	ann.openRoomByURL(sys, room)
	first := "Who wants to see my cat? 🐱"
	ann.typeAndEnter(first)
	orig := msgWith(ann, first)
	// Enough after it that a member opening the room later has not got it.
	cy := sys.newUser(t, "Cy")
	sys.join(t, cy, room, 200)
	for i := range 70 {
		sys.postMessage(t, cy, room, fmt.Sprintf("chatter %d", i))
	}
	ann.waitMessage("chatter 69", 1)
	// A long press opens the menu on a phone.
	ann.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).scrollIntoView({block: 'center'})`, jsString(orig))))
	ann.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).dispatchEvent(new MouseEvent('contextmenu', {bubbles: true, cancelable: true}))`, jsString(orig+" .msg-body"))))
	ann.waitJS(`!!document.querySelector('#msg-menu')`, "the menu by a long press")
	ann.shot("msg-menu-phone")
	ann.click(`#msg-menu [data-action="reply"]`)
	ann.waitJS(`document.querySelector('#composer-mode-text')?.textContent.includes('Replying to Ann') && document.querySelector('#composer-mode-text').textContent.includes('my cat')`, "Replying to Ann: preview")
	ann.do(chromedp.SendKeys(chromedp.ID("composer"), "Here it is 😺"))
	ann.shot("msg-reply-phone")
	ann.do(pressEnter)
	ann.waitJS(`document.querySelector('#composer-mode').hidden`, "the reply line gone after the send")
	reply := msgWith(ann, "Here it is 😺")
	ann.waitJS(fmt.Sprintf(`document.querySelector(%s)?.textContent.includes('my cat')`, jsString(reply+" .msg-reply")), "the reply's preview")

	bob := br.newTab(t, "bob", desktop)
	bob.login(sys, "Bob")
	bob.openRoomByURL(sys, room)
	bob.waitJS(fmt.Sprintf(`!!document.querySelector(%s)`, jsString(reply+" .msg-reply")), "the reply")
	if evalJS[bool](bob, fmt.Sprintf(`!!document.querySelector(%s)`, jsString(orig))) {
		t.Fatal("the original is loaded already: the jump would not need to page")
	}
	// One tab stop for all the ⋯ buttons: the newest; up moves between them.
	bob.waitJS(fmt.Sprintf(`document.querySelectorAll('#messages .msg-more[tabindex="0"]').length === 1 && !!document.querySelector(%s)`, jsString(reply+` .msg-more[tabindex="0"]`)), "the newest ⋯ the one tab stop")
	bob.do(chromedp.Focus(chromedp.CSS(reply + " .msg-more")))
	bob.key(kb.ArrowUp)
	bob.waitJS(`document.activeElement.closest('li.msg')?.querySelector('.msg-body').textContent === 'chatter 69' && document.activeElement.getAttribute('tabindex') === '0' && document.querySelectorAll('#messages .msg-more[tabindex="0"]').length === 1`, "ArrowUp on the message before, the tab stop with it")
	bob.click(reply + " .msg-reply")
	bob.waitJS(fmt.Sprintf(`document.querySelector(%s)?.classList.contains('msg-jumped') && document.activeElement === document.querySelector(%[1]s)`, jsString(orig)), "the original loaded, shown and focused")
	bob.waitJS(fmt.Sprintf(`(() => { const r = document.querySelector(%s).getBoundingClientRect(), v = document.querySelector('#timeline').getBoundingClientRect(); return r.top >= v.top && r.bottom <= v.bottom; })()`, jsString(orig)), "the original in view")
	bob.shot("msg-reply-jump-desktop")
}

func testReactions(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Reactions "+webSuffix(), "emoji")
	ann := br.newTab(t, "ann", phone)
	bob := br.newTab(t, "bob", desktop)
	ann.login(sys, "Ann")
	bob.login(sys, "Bob")
	ann.openRoomByURL(sys, room)
	bob.openRoomByURL(sys, room)
	ann.typeAndEnter("My cat learned to open doors")
	m := msgWith(ann, "My cat learned to open doors")
	bob.waitMessage("My cat learned to open doors", 1)

	bob.menuAction(m, "react")
	bob.waitJS(`document.querySelector('#react-dialog')?.open && document.activeElement.classList.contains('react-choice')`, "the picker, first emoji focused")
	bob.click(`#react-dialog [data-emoji="🎉"]`)
	ann.waitJS(fmt.Sprintf(`document.querySelector(%s)?.textContent === '🎉 1'`, jsString(m+" .reaction")), "Bob's 🎉 on Ann's screen")
	// Any single emoji typed; two are refused in the field.
	bob.menuAction(m, "react")
	bob.do(chromedp.SendKeys(chromedp.ID("react-other"), "ab"))
	bob.click(`#react-add`)
	bob.waitJS(`document.querySelector('#react-error').textContent !== ''`, "not one emoji: said in the dialog")
	bob.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#react-other').value = '🦄'`))
	bob.click(`#react-add`)
	ann.waitJS(fmt.Sprintf(`[...document.querySelectorAll(%s)].map(c => c.textContent).join() === '🎉 1,🦄 1'`, jsString(m+" .reaction")), "🦄 too")
	ann.shot("msg-reactions-phone")
	// The picker toggles: 🎉 is Bob's, so picking it again takes it off.
	bob.menuAction(m, "react")
	bob.waitJS(`document.querySelector('#react-dialog [data-emoji="🎉"]')?.getAttribute('aria-pressed') === 'true'`, "🎉 marked as Bob's")
	bob.click(`#react-dialog [data-emoji="🎉"]`)
	ann.waitJS(fmt.Sprintf(`[...document.querySelectorAll(%s)].map(c => c.textContent).join() === '🦄 1'`, jsString(m+" .reaction")), "🎉 gone on Ann's screen")
	bob.shot("msg-reactions-desktop")
}

func testMentionPicker(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "이름 부르기 "+webSuffix(), "멘션")
	ann := br.newTab(t, "ann", phone, korean)
	bob := br.newTab(t, "bob", desktop)
	ann.login(sys, "하늘이")
	bob.login(sys, "Bob")
	bobID := bob.sessionUserID()
	// Another Bob: the picker tells them apart by tag, the send by id.
	other := sys.newUser(t, "Bob")
	sys.join(t, other, room, 200)
	ann.openRoomByURL(sys, room)
	bob.openRoomByURL(sys, room)
	ann.waitJS(`document.querySelectorAll('#member-list li').length === 3`, "three members")

	ann.do(chromedp.Focus(chromedp.ID("composer")), chromedp.SendKeys(chromedp.ID("composer"), "안녕 @b"))
	ann.waitJS(`!document.querySelector('#mention-list').hidden && document.querySelectorAll('#mention-list [role=option]').length === 2`, "the picker with both Bobs")
	ann.waitJS(`document.querySelector('#composer').getAttribute('aria-activedescendant') === 'mention-opt-0'`, "the first option active")
	ann.shot("msg-mention-picker-ko-phone")
	ids := evalJS[[]string](ann, `[...document.querySelectorAll('#mention-list [role=option]')].map(o => o.dataset.userId)`)
	at := slices.Index(ids, bobID)
	if at < 0 {
		t.Fatalf("Bob %s is not offered: %v", bobID, ids)
	}
	for range at {
		ann.key(kb.ArrowDown)
	}
	ann.waitJS(fmt.Sprintf(`document.querySelector('#mention-list [aria-selected=true]')?.dataset.userId === %q`, bobID), "Bob chosen with the arrows")
	ann.do(pressEnter)
	ann.waitJS(`document.querySelector('#composer').value === '안녕 @Bob ' && document.querySelector('#mention-list').hidden`, "@Bob in the text, the picker closed")
	ann.do(chromedp.SendKeys(chromedp.ID("composer"), "고양이 봤어요?"), pressEnter)
	text := "안녕 @Bob 고양이 봤어요?"
	m := msgWith(bob, text)
	bob.waitJS(fmt.Sprintf(`document.querySelector(%s)?.classList.contains('mentions-me')`, jsString(m)), "the mention highlighted on Bob's screen")
	bob.shot("msg-mention-desktop")
	// The other Bob was not mentioned: the message names one id.
	var page struct {
		Messages []struct {
			Body     string   `json:"body"`
			Mentions []string `json:"mentions"`
		} `json:"messages"`
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		if code := sys.call(t, "GET", "/v1/rooms/"+room+"/messages?limit=5", other.Token, nil, &page); code != 200 {
			t.Fatalf("history: %d", code)
		}
		i := slices.IndexFunc(page.Messages, func(x struct {
			Body     string   `json:"body"`
			Mentions []string `json:"mentions"`
		}) bool {
			return strings.Contains(x.Body, "고양이")
		})
		if i >= 0 {
			if got := page.Messages[i].Mentions; !slices.Equal(got, []string{bobID}) {
				t.Fatalf("mentions %v, want [%s]", got, bobID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message is not in the history")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The message actions' screens that -docs-screenshots copies to docs/screenshots/.
func init() {
	for _, name := range []string{"msg-edited-phone", "msg-deleted-desktop", "msg-reply-phone", "msg-reply-jump-desktop",
		"msg-reactions-phone", "msg-reactions-desktop", "msg-mention-picker-ko-phone", "msg-mention-desktop", "msg-menu-phone"} {
		docsShots[name] = true
	}
}
