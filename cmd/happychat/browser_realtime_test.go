package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// testFallbackToEventStream: a browser whose WebSockets cannot connect (as
// behind a proxy that refuses the upgrade) falls back to the room's event
// stream and HTTP sends after three failed sockets, and chats as before
// with a member on a WebSocket: each message once, in order, on both
// sides. Once WebSockets get through again, it goes back to one.
func testFallbackToEventStream(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Behind the firewall "+webSuffix(), "No WebSockets here")
	ann := br.newTab(t, "ann", phone)
	bob := br.newTab(t, "bob", desktop)
	ann.blockWebSockets()
	ann.login(sys, "Ann 🧱")
	bob.login(sys, "Bob")

	ann.openRoomByURL(sys, room)
	onStream := `document.querySelector('#conn').dataset.transport === 'sse' && document.querySelector('#conn').dataset.state === 'online'`
	ann.waitJS(onStream, "the event stream, connected")
	bob.openRoomByURL(sys, room)
	bob.waitJS(`document.querySelector('#conn').dataset.transport === 'ws'`, "Bob on a WebSocket")

	sent := []string{"Can anyone hear me? 📡", "안녕하세요, 방화벽 뒤에서 🧱"}
	ann.typeAndEnter(sent[0])
	bob.waitMessage(sent[0], 1)
	reply := "Loud and clear, Ann!"
	bob.typeAndEnter(reply)
	ann.waitMessage(reply, 1)
	ann.typeAndEnter(sent[1])
	bob.waitMessage(sent[1], 1)
	want := []string{sent[0], reply, sent[1]}
	checkShown := func() {
		t.Helper()
		for _, tb := range []*tab{ann, bob} {
			tb.waitJS(`document.querySelectorAll('#messages .pending').length === 0`, "no pending send")
			got := evalJS[[]string](tb, `[...document.querySelectorAll('#messages li.msg .msg-body')].map(e => e.textContent)`)
			if !slices.Equal(got, want) {
				t.Fatalf("%s shows %q, want %q", tb.name, got, want)
			}
		}
	}
	checkShown()
	if !evalJS[bool](ann, onStream) {
		t.Fatal("Ann left the event stream while WebSockets were blocked")
	}
	ann.shot("fallback-sse-phone")

	// WebSockets get through again: within a retry period (3 s here, a
	// minute in use: window.__wsRetryMs), the
	// room is back on one, and nothing was shown twice.
	ann.do(chromedp.Evaluate[chromedp.Void](`window.__blockWebSockets = false`))
	deadline := time.Now().Add(90 * time.Second)
	for !evalJS[bool](ann, `document.querySelector('#conn').dataset.transport === 'ws' && document.querySelector('#conn').dataset.state === 'online'`) {
		if time.Now().After(deadline) {
			ann.fail("still not back on a WebSocket")
		}
		time.Sleep(time.Second)
	}
	back := "Back on a WebSocket 🔌"
	bob.typeAndEnter(back)
	ann.waitMessage(back, 1)
	want = append(want, back)
	checkShown()
}

// blockWebSockets makes the tab's WebSockets fail to connect, from its next
// page on, the way a refused upgrade looks to a page (an error, then close
// 1006), until the page sets window.__blockWebSockets = false. DevTools'
// URL blocking does not apply to WebSockets, so the constructor is
// replaced before the app's scripts run.
func (tb *tab) blockWebSockets() {
	tb.t.Helper()
	const script = `(() => {
  const Real = window.WebSocket;
  window.__blockWebSockets = true;
  window.__wsRetryMs = 3000; // the client's retry of a WebSocket, a minute in use
  window.WebSocket = class extends EventTarget {
    static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
    constructor(url, protocols) {
      if (!window.__blockWebSockets) return new Real(url, protocols);
      super();
      this.url = url;
      this.readyState = 0;
      setTimeout(() => {
        this.readyState = 3;
        this.onerror?.(new Event("error"));
        this.onclose?.(new CloseEvent("close", { code: 1006 }));
      }, 50);
    }
    send() { throw new DOMException("not open", "InvalidStateError"); }
    close() { this.readyState = 3; }
  };
})();`
	tb.cdp(func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	})
}

// testTyping: while Mina types (without sending), the others see "Mina is
// typing…" in a polite live region, in their language; her message clears
// it. Bob follows the room over its event stream, so his typing goes over
// HTTP, and Mina sees it too.
func testTyping(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Who is typing "+webSuffix(), "Dots that mean someone cares")
	mina := br.newTab(t, "mina", desktop)
	bob := br.newTab(t, "bob", phone, korean)
	bob.blockWebSockets()
	mina.login(sys, "Mina")
	bob.login(sys, "Bob")
	mina.openRoomByURL(sys, room)
	bob.openRoomByURL(sys, room)
	bob.waitJS(`document.querySelector('#conn').dataset.transport === 'sse' && document.querySelector('#conn').dataset.state === 'online'`, "the event stream, connected")
	if live := evalJS[string](bob, `document.querySelector('#typing').getAttribute('aria-live')`); live != "polite" {
		t.Fatalf("the typing line's aria-live is %q", live)
	}

	mina.do(chromedp.Focus(chromedp.ID("composer")), chromedp.SendKeys(chromedp.ID("composer"), "I was just thinking"))
	bob.waitJS(`document.querySelector('#typing').textContent === 'Mina 님이 입력 중…'`, "Mina typing, in Korean")
	bob.shot("typing-ko-phone")
	if own := evalJS[string](mina, `document.querySelector('#typing').textContent`); own != "" {
		t.Fatalf("Mina sees her own typing: %q", own)
	}
	mina.do(pressEnter)
	bob.waitMessage("I was just thinking", 1)
	bob.waitJS(`document.querySelector('#typing').textContent === ''`, "the indicator cleared by her message")

	bob.do(chromedp.Focus(chromedp.ID("composer")), chromedp.SendKeys(chromedp.ID("composer"), "네"))
	mina.waitJS(`document.querySelector('#typing').textContent === 'Bob is typing…'`, "Bob typing, over HTTP")
}
