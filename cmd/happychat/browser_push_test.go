package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// testWebPushShown: the service worker shows a Web Push. Chromium cannot
// subscribe here (its push service is Google's, out of reach), so the push
// is delivered to the worker through the DevTools protocol
// (ServiceWorker.deliverPushMessage) with the payload the notifier sends
// (TestWebPush checks that payload's delivery and encryption). A push of
// the room a visible window shows is dropped; one of another room is shown;
// with the topic list open, a push of the room is shown, one per room (tag),
// saying who wrote what and how many more, and it links to the message,
// which the room then reveals. The room's mute switch keeps its state on
// the server.
func testWebPushShown(t *testing.T, sys *webSystem, br *browser) {
	suffix := webSuffix()
	room, quiet := sys.createRoom(t, "Push topic "+suffix, "pushes"), sys.createRoom(t, "Quiet topic "+suffix, "pushes")
	mina := sys.newUser(t, "Mina")
	sys.join(t, mina, room, http.StatusOK)
	var sent struct {
		ID string `json:"id"`
	}
	if code := sys.call(t, "POST", "/v1/rooms/"+room+"/messages", mina.Token,
		map[string]string{"body": "see you at the park", "client_msg_id": webUUID()}, &sent); code != http.StatusCreated {
		t.Fatalf("post: %d", code)
	}

	tb := br.newTab(t, "pia", desktop)
	tb.cdp(func(ctx context.Context) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: string(cdpbrowser.PermissionTypeNotifications)},
			Setting:    cdpbrowser.PermissionSettingGranted, Origin: sys.base,
			BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
		})
		return err
	})
	tb.login(sys, "Pia")
	tb.openRoomFromList(room)
	tb.waitJS(`navigator.serviceWorker.controller !== null`, "the service worker in control")
	reg := registrationOf(tb, sys.base+"/")

	// The mute switch: on, still on after a reload (the server keeps it), off.
	tb.click(`#mute-toggle`)
	tb.waitJS(`document.querySelector('#mute-toggle').getAttribute('aria-pressed') === 'true'`, "the room muted")
	tb.openRoomByURL(sys, room)
	tb.waitJS(`document.querySelector('#mute-toggle').getAttribute('aria-pressed') === 'true'`, "the room still muted after a reload")
	tb.shot("room-muted-desktop")
	tb.click(`#mute-toggle`)
	tb.waitJS(`document.querySelector('#mute-toggle').getAttribute('aria-pressed') === 'false'`, "the room unmuted")

	push := func(roomID, title, nickname, text, messageID string, count int) {
		b, _ := json.Marshal(map[string]any{"room_id": roomID, "room_title": title, "message_id": messageID, "seq": 2,
			"nickname": nickname, "text": text, "count": count})
		tb.cdp(func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: sys.base, RegistrationID: reg, Data: string(b)})
			return err
		})
	}
	notes := `navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url})))`
	// The room is on screen: its push is dropped. The other room's is shown.
	push(room, "Push topic "+suffix, "Mina", "dropped while you look", "1", 1)
	push(quiet, "Quiet topic "+suffix, "Kai", "over here", "2", 1)
	tb.waitJS(fmt.Sprintf(`%s.then((ns) => ns.some((n) => n.tag === 'room-%s' && n.body === 'Kai: over here'))`, notes, quiet), "the other room's notification")
	if evalJS[bool](tb, fmt.Sprintf(`%s.then((ns) => ns.some((n) => n.tag === 'room-%s'))`, notes, room)) {
		tb.fail("a push of the room on screen was shown")
	}

	// On the topic list, the room's push is shown, linking to the message.
	tb.click(`#back`)
	tb.waitJS(`!!document.querySelector('#room-search')`, "the topic list")
	push(room, "Push topic "+suffix, "Mina", "see you at the park", sent.ID, 3)
	want := fmt.Sprintf(`n.tag === 'room-%s' && n.title === 'Push topic %s' && n.body === 'Mina: see you at the park (+2 more)' && n.url === '/rooms/%s#msg-%s'`, room, suffix, room, sent.ID)
	tb.waitJS(fmt.Sprintf(`%s.then((ns) => ns.some((n) => %s))`, notes, want), "the room's notification")

	// Where the click leads: the service worker's notificationclick takes
	// the window on the topic list to the room, scrolled to the message.
	// DevTools has no click on a notification, so the event is dispatched in
	// the worker (its waitUntil refuses an untrusted event, which the
	// handler's work does not depend on).
	clickNotification(tb, "room-"+room)
	waitAcrossNavigation(tb, fmt.Sprintf(`location.pathname === '/rooms/%s' && !!document.querySelector('.msg.msg-linked[data-id="%s"]')`, room, sent.ID),
		"the click's room, the linked message revealed")
}

// waitAcrossNavigation waits until expr is true in the tab while the page
// may navigate under it (a poll started before a navigation fails with it).
func waitAcrossNavigation(tb *tab, expr, what string) {
	tb.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.fail("waiting for %s (%s): %v", what, expr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clickNotification dispatches notificationclick for the shown
// notification of tag in the page's service worker.
func clickNotification(tb *tab, tag string) {
	tb.t.Helper()
	var sw target.ID
	tb.cdp(func(ctx context.Context) error {
		infos, err := chromedp.Targets(ctx)
		for _, in := range infos {
			if in.Type == "service_worker" && strings.HasSuffix(in.URL, "/sw.js") {
				sw = in.TargetID
			}
		}
		return err
	})
	if sw == "" {
		tb.fail("no service worker target")
	}
	wctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithTargetID(sw), chromedp.WithDetachOnCancel()) // the worker stays
	defer cancel()
	ctx, cancel2 := context.WithTimeout(wctx, stepTimeout)
	defer cancel2()
	js := fmt.Sprintf(`self.registration.getNotifications({tag: %s}).then((ns) => {
		if (!ns.length) return false;
		try { self.dispatchEvent(new NotificationEvent('notificationclick', {notification: ns[0]})); } catch (e) {}
		return true;
	})`, jsString(tag))
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise))
	if err != nil || !ok {
		tb.fail("click the notification %s in the service worker: %v, found %v", tag, err, ok)
	}
}

// registrationOf returns the id DevTools gives the service worker
// registration of scope.
func registrationOf(tb *tab, scope string) serviceworker.RegistrationID {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitTimeout)
	defer cancel()
	found := make(chan serviceworker.RegistrationID, 1)
	go func() {
		for ev, err := range chromedp.Events(ctx, serviceworker.WorkerRegistrationUpdated) {
			if err != nil {
				return
			}
			for _, r := range ev.Registrations {
				if r.ScopeURL == scope && !r.IsDeleted {
					select {
					case found <- r.RegistrationID:
					default:
					}
					return
				}
			}
		}
	}()
	time.Sleep(100 * time.Millisecond) // the subscription above is in place
	tb.cdp(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, serviceworker.Enable, cdp.Empty{})
		return err
	})
	select {
	case id := <-found:
		return id
	case <-ctx.Done():
		tb.fail("no service worker registration of %s reported", scope)
		return ""
	}
}
