package main

import (
	"fmt"
	"net/url"
	"testing"
)

// testMessageChanges: a reply with its preview, a mention of the user, an
// edited message, a deleted one and reactions, live (frames) on a phone and
// from history on a desktop; a reaction chip toggles the user's own.
func testMessageChanges(t *testing.T, sys *webSystem, br *browser) {
	room := sys.createRoom(t, "Second thoughts "+webSuffix(), "Edit, take back, answer, react")
	ann := br.newTab(t, "ann", phone)
	ann.login(sys, "Ann")
	ann.openRoomByURL(sys, room)
	first := "Who wants to see my cat? 🐱"
	ann.typeAndEnter(first)
	ann.waitMessage(first, 1)
	annMsg := evalJS[string](ann, `[...document.querySelectorAll('#messages li.msg')].pop().dataset.id`)
	annID := evalJS[string](ann, `[...document.querySelectorAll('#messages li.msg')].pop().dataset.userId`)

	bob := sys.newUser(t, "Bob")
	sys.join(t, bob, room, 200)
	rp := "/v1/rooms/" + room
	var reply, typo, oops struct {
		ID string `json:"id"`
	}
	if code := sys.call(t, "POST", rp+"/messages", bob.Token, map[string]any{"body": "@Ann me! show us 😻", "client_msg_id": webUUID(),
		"reply_to": annMsg, "mentions": []string{annID}}, &reply); code != 201 {
		t.Fatalf("reply: %d", code)
	}
	if code := sys.call(t, "POST", rp+"/messages", bob.Token, map[string]any{"body": "Cats are teh best", "client_msg_id": webUUID()}, &typo); code != 201 {
		t.Fatalf("send: %d", code)
	}
	if code := sys.call(t, "PATCH", rp+"/messages/"+typo.ID, bob.Token, map[string]any{"body": "Cats are the best"}, nil); code != 200 {
		t.Fatalf("edit: %d", code)
	}
	if code := sys.call(t, "POST", rp+"/messages", bob.Token, map[string]any{"body": "wrong room, sorry", "client_msg_id": webUUID()}, &oops); code != 201 {
		t.Fatalf("send: %d", code)
	}
	if code := sys.call(t, "DELETE", rp+"/messages/"+oops.ID, bob.Token, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	for _, e := range []string{"😻", "🎉"} {
		if code := sys.call(t, "PUT", rp+"/messages/"+annMsg+"/reactions/"+url.PathEscape(e), bob.Token, nil, nil); code != 204 {
			t.Fatalf("react: %d", code)
		}
	}

	check := func(tb *tab) {
		tb.t.Helper()
		tb.waitJS(fmt.Sprintf(`document.querySelector('li.msg[data-id=%q] .msg-reply')?.textContent.includes(%s)`, reply.ID, jsString(first)), "the reply's preview")
		tb.waitJS(fmt.Sprintf(`document.querySelector('li.msg[data-id=%q] .msg-body')?.textContent === 'Cats are the best' && !!document.querySelector('li.msg[data-id=%q] .msg-edited')`, typo.ID, typo.ID), "the edited text and mark")
		tb.waitJS(fmt.Sprintf(`document.querySelector('li.msg[data-id=%q]')?.classList.contains('deleted') && !document.body.textContent.includes('wrong room')`, oops.ID), "the tombstone, and no deleted text anywhere")
		tb.waitJS(fmt.Sprintf(`document.querySelectorAll('li.msg[data-id=%q] .reaction').length === 2`, annMsg), "two reaction chips")
	}
	check(ann)
	ann.waitJS(fmt.Sprintf(`document.querySelector('li.msg[data-id=%q]')?.classList.contains('mentions-me')`, reply.ID), "the mention highlighted")
	// Ann adds her own 😻 by its chip: the frame comes back, the chip is hers.
	ann.click(fmt.Sprintf(`li.msg[data-id=%q] .reaction`, annMsg))
	ann.waitJS(fmt.Sprintf(`document.querySelector('li.msg[data-id=%q] .reaction.mine')?.textContent === '😻 2'`, annMsg), "Ann's reaction on the chip")
	ann.shot("message-changes-phone")

	cy := br.newTab(t, "cy", desktop)
	cy.login(sys, "Cy")
	cy.openRoomByURL(sys, room)
	check(cy)
	cy.waitJS(fmt.Sprintf(`document.querySelector('li.msg[data-id=%q] .reaction')?.textContent === '😻 2'`, annMsg), "both reactions from history")
	cy.shot("message-changes-desktop")
}
