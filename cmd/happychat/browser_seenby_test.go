package main

import (
	"fmt"
	"net/http"
	"testing"
)

func init() {
	// The "seen by" screens (issue 19 part 4) in docs/screenshots/.
	docsShots["seen-by-desktop"] = true
	docsShots["seen-by-ko-phone"] = true
}

// testSeenBy: Bora writes; Joon, who has the room open on his phone (in
// Korean), reads it there, so his client moves his mark by itself and
// Bora's desktop shows "Seen by Joon" live. Four more members read it over
// the API: Bora sees the compact "Seen by Joon, Mina +3" with every name
// for screen readers, and Joon sees the others (not himself) in Korean.
func testSeenBy(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Picnic on Sunday "+webSuffix(), "Who has seen the plan?")
	bora := br.newTab(t, "bora", desktop)
	joon := br.newTab(t, "joon", phone, korean)
	bora.login(sys, "Bora")
	joon.login(sys, "Joon")
	bora.openRoomByURL(sys, room)
	joon.openRoomByURL(sys, room)

	plan := "Picnic at 11 by the river 🧺 — bring something sweet!"
	bora.typeAndEnter(plan)
	bora.waitMessage(plan, 1)
	joon.waitMessage(plan, 1)
	bora.waitJS(`!document.querySelector('#seen-by').hidden && document.querySelector('#seen-by .seen-text')?.textContent === 'Seen by Joon'`,
		"Joon's own client marked the plan read")
	if got := evalJS[string](bora, `document.querySelector('#seen-by').getAttribute('aria-live')`); got != "off" {
		t.Fatalf("the seen-by line's aria-live is %q", got)
	}
	if evalJS[bool](joon, `!document.querySelector('#seen-by').hidden`) {
		t.Fatal("Joon sees himself as a reader")
	}

	msg := evalJS[string](bora, `[...document.querySelectorAll('#messages li.msg')].pop().dataset.id`)
	for _, nick := range []string{"Mina", "Nari", "Suji", "Yuri"} {
		u := sys.newUser(t, nick)
		sys.join(t, u, room, http.StatusOK)
		if code := sys.call(t, "POST", "/v1/rooms/"+room+"/read", u.Token, map[string]string{"up_to": msg}, nil); code != http.StatusOK {
			t.Fatalf("%s marks the plan read: %d", nick, code)
		}
	}
	bora.waitJS(`document.querySelector('#seen-by .seen-text')?.textContent === 'Seen by Joon, Mina +3'`, "the compact list")
	if got, want := evalJS[string](bora, `document.querySelector('#seen-by .sr-only').textContent`), "Seen by Joon, Mina, Nari, Suji, Yuri"; got != want {
		t.Fatalf("screen-reader text %q, want %q", got, want)
	}
	if n := evalJS[int](bora, `document.querySelectorAll('#seen-by .avatar').length`); n != 5 {
		t.Fatalf("%d avatars, want 5", n)
	}
	bora.a11yCheck("seen by")
	bora.shot("seen-by-desktop")
	joon.waitJS(`document.querySelector('#seen-by .seen-text')?.textContent === 'Mina, Nari 님 외 2명이 읽음'`, "the others, in Korean")
	joon.shot("seen-by-ko-phone")

	// Joon answers: the line moves under the newest message. On Bora's
	// screen nobody else has read it yet (she is left out, and so is its
	// author); on Joon's, Bora has, her client marking it read.
	reply := fmt.Sprintf("I'll bring 약과 %s", "🍯")
	joon.typeAndEnter(reply)
	bora.waitMessage(reply, 1)
	bora.waitJS(`document.querySelector('#seen-by').hidden`, "nobody but Bora has read Joon's answer")
	joon.waitJS(`document.querySelector('#seen-by .seen-text')?.textContent === 'Bora 님이 읽음' && document.querySelector('#seen-by').dataset.messageId === [...document.querySelectorAll('#messages li.msg')].pop().dataset.id`,
		"Bora has read Joon's answer")
}
