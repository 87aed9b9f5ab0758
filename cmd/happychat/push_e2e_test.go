package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/testenv"
	"happychat/query/openapi"
	"happychat/schemas"
)

// TestWebPush runs happychat dev (its notifier included) against the real
// Kafka and PostgreSQL, with browsers' subscriptions at a push service of
// the test's own that checks each push's VAPID token and decrypts it. A
// send notifies the other members once, softened, and neither the sender
// nor a member who muted the room unless the message mentions them; twenty
// quick sends make a few pushes whose counts add up to twenty; a
// subscription answered 410 is dropped; and a restart whose group lost its
// committed offsets (so that it reads the old records again) pushes none
// of them again.
func TestWebPush(t *testing.T) {
	env := devEnv(t)
	maps.Copy(env, map[string]string{
		"CHAT_PUSH_ALLOW_LOOPBACK": "true",
		"CHAT_PUSH_WINDOW":         "1s",
		"CHAT_PROFANITY_WORDS":     "grumpy",
	})
	s := startPushDev(t, env)

	var key struct {
		PublicKey string `json:"public_key"`
	}
	if st, _, b := s.call("GET", "/v1/push/vapid-key", "/v1/push/vapid-key", "", nil, &key); st != http.StatusOK {
		t.Fatalf("vapid key: %d %s", st, b)
	}
	ps := newPushService(t, key.PublicKey)
	room := s.openRoom("push e2e")
	alice, bob, carol, dave := s.member(room, "alice"), s.member(room, "bob"), s.member(room, "carol"), s.member(room, "dave")
	subscribe := func(u schemas.Session, name string, status int) *browserSub {
		b, body := ps.subscribe(name, status)
		if st, _, resp := s.call("POST", "/v1/push/subscriptions", "/v1/push/subscriptions", u.Token, body, nil); st != http.StatusNoContent {
			t.Fatalf("subscribe %s: %d %s", name, st, resp)
		}
		return b
	}
	aliceSub, bobSub, carolSub := subscribe(alice, "alice", 201), subscribe(bob, "bob", 201), subscribe(carol, "carol", 201)
	daveGone, daveOK := subscribe(dave, "dave-gone", 410), subscribe(dave, "dave-ok", 201)
	if st, _, b := s.call("PUT", roomPath(room)+"/mute", "/v1/rooms/:id/mute", carol.Token, nil, nil); st != http.StatusNoContent {
		t.Fatalf("mute: %d %s", st, b)
	}
	var mutes struct {
		RoomIDs []schemas.ID `json:"room_ids"`
	}
	if st, _, b := s.call("GET", "/v1/push/mutes", "/v1/push/mutes", carol.Token, nil, &mutes); st != http.StatusOK || !slices.Equal(mutes.RoomIDs, []schemas.ID{room}) {
		t.Fatalf("carol's mutes: %d %s", st, b)
	}

	// One send: bob and dave's live subscription are pushed once, softened;
	// dave's gone one is asked once and dropped.
	first := s.post(room, alice, "you grumpy cat")
	waitPushes(t, ps, bobSub, 1)
	waitPushes(t, ps, daveOK, 1)
	got, _ := ps.received(bobSub)
	if p := got[0]; p.RoomID != room || p.RoomTitle != "push e2e" || p.MessageID != first.ID || p.Seq != first.Seq ||
		p.Nickname != "alice" || p.Count != 1 || p.Mention || strings.Contains(p.Text, "grumpy") || !strings.HasPrefix(p.Text, "you ") {
		t.Fatalf("bob's push: %+v, want alice's message %d (seq %d) softened, count 1", p, first.ID, first.Seq)
	}

	// A mention reaches carol although she muted the room.
	mention := s.postWith(room, alice, "carol, look", []schemas.ID{carol.UserID})
	waitPushes(t, ps, carolSub, 1)
	if got, _ := ps.received(carolSub); got[0].Seq != mention.Seq || !got[0].Mention {
		t.Fatalf("carol's push: %+v, want the mention at seq %d", got[0], mention.Seq)
	}
	waitPushes(t, ps, bobSub, 2)

	// Twenty quick sends: a few pushes, counting all twenty.
	msgs, err := postMany(s.base, room, alice, 20, 4, func(i int) string { return fmt.Sprintf("quick %d", i) })
	if err != nil {
		t.Fatal(err)
	}
	last := msgs[len(msgs)-1].Seq
	eventually(t, "bob's push of the twentieth send", func() error {
		if got, _ := ps.received(bobSub); got[len(got)-1].Seq != last {
			return fmt.Errorf("bob's last push is of seq %d, want %d", got[len(got)-1].Seq, last)
		}
		return nil
	})
	got, _ = ps.received(bobSub)
	burst, total := got[2:], 0
	for _, p := range burst {
		total += p.Count
	}
	if total != 20 || len(burst) > 5 {
		t.Fatalf("twenty sends made %d pushes counting %d: %+v; want at most 5 counting 20", len(burst), total, burst)
	}
	t.Logf("twenty sends in a 1 s window: %d pushes", len(burst))
	// Every push to bob and to dave's live subscription together counts
	// each send once: the first, the mention, the twenty.
	for _, sub := range []*browserSub{bobSub, daveOK} {
		eventually(t, sub.name+"'s push of the twentieth send", func() error {
			got, _ := ps.received(sub)
			total := 0
			for _, p := range got {
				total += p.Count
			}
			if got[len(got)-1].Seq != last || total != 22 {
				return fmt.Errorf("%s: last push of seq %d (want %d), counts adding to %d (want 22)", sub.name, got[len(got)-1].Seq, last, total)
			}
			return nil
		})
	}
	if _, n := ps.received(daveGone); n != 1 {
		t.Fatalf("the subscription answered 410 was asked %d times, want once (then dropped)", n)
	}
	if got, n := ps.received(aliceSub); n != 0 {
		t.Fatalf("the sender was pushed: %+v", got)
	}
	if got, _ := ps.received(carolSub); len(got) != 1 {
		t.Fatalf("carol (muted) got %d pushes, want only the mention: %+v", len(got), got)
	}

	// A restart that has lost the group's offsets reads every record of the
	// last CHAT_PUSH_MAX_AGE again: the watermarks stop them all.
	s.stop()
	deleteGroup(t, env["CHAT_TOPIC_PREFIX"]+".notifier")
	s = startPushDev(t, env)
	before, _ := ps.received(bobSub)
	after := s.post(room, alice, "after the restart")
	waitPushes(t, ps, bobSub, len(before)+1)
	got, _ = ps.received(bobSub)
	if p := got[len(got)-1]; p.Seq != after.Seq || p.Count != 1 {
		t.Fatalf("after the restart bob got %+v, want only seq %d", got[len(before):], after.Seq)
	}
	if _, n := ps.received(daveGone); n != 1 {
		t.Fatalf("the dropped subscription was asked again (%d)", n)
	}

	// Bob blocks alice (feature level 5): her messages, even a mention of
	// him, push him nothing; carol's next message does, alone (a push of
	// alice's would have been counted with it).
	if st, _, b := s.call("POST", "/v1/me/blocks", "/v1/me/blocks", bob.Token, map[string]any{"user_id": alice.UserID}, nil); st != http.StatusNoContent {
		t.Fatalf("block: %d %s", st, b)
	}
	eventually(t, "the block projected", func() error {
		var list struct {
			Blocks []struct {
				UserID schemas.ID `json:"user_id"`
			} `json:"blocks"`
		}
		if s.call("GET", "/v1/me/blocks", "/v1/me/blocks", bob.Token, nil, &list); len(list.Blocks) != 1 {
			return fmt.Errorf("blocks %+v", list.Blocks)
		}
		return nil
	})
	before, _ = ps.received(bobSub)
	blocked := s.postWith(room, alice, "bob, answer me", []schemas.ID{bob.UserID})
	fromCarol := s.post(room, carol, "hi from carol")
	waitPushes(t, ps, bobSub, len(before)+1)
	got, _ = ps.received(bobSub)
	for _, p := range got[len(before):] {
		if p.Seq == blocked.Seq || p.Count != 1 || p.Seq != fromCarol.Seq {
			t.Fatalf("bob, who blocks alice, got %+v; want only carol's message (seq %d, count 1)", got[len(before):], fromCarol.Seq)
		}
	}
}

// pushDev is happychat dev that the test may stop and start again.
type pushDev struct {
	*rtDev
	stop func()
}

func startPushDev(t *testing.T, env map[string]string) *pushDev {
	t.Helper()
	addr, stop := startServing(t, "dev", env)
	s := &rtDev{devSystem: startDevAt(t, addr), env: env}
	// The notifier joins its group after /readyz may answer: a send it
	// then reads (it starts CHAT_PUSH_MAX_AGE back) is not lost, so nothing
	// waits here.
	return &pushDev{rtDev: s, stop: stop}
}

// postWith sends one message mentioning ids.
func (s *pushDev) postWith(room schemas.ID, u schemas.Session, body string, ids []schemas.ID) schemas.Message {
	s.t.Helper()
	var m schemas.Message
	if st, _, b := s.call("POST", roomPath(room)+"/messages", "/v1/rooms/:id/messages", u.Token,
		map[string]any{"body": body, "client_msg_id": "p-" + testenv.RandomHex(8), "mentions": ids}, &m); st != http.StatusCreated {
		s.t.Fatalf("post: %d %s", st, b)
	}
	return m
}

// waitPushes waits until sub has received n pushes, and fails if it gets more.
func waitPushes(t *testing.T, ps *pushService, sub *browserSub, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d pushes to %s", n, sub.name), func() error {
		got, _ := ps.received(sub)
		if len(got) > n {
			t.Fatalf("%s got %d pushes, want %d: %+v", sub.name, len(got), n, got)
		}
		if len(got) < n {
			return fmt.Errorf("%d so far", len(got))
		}
		return nil
	})
}

// deleteGroup deletes a consumer group, and with it its committed offsets.
func deleteGroup(t *testing.T, group string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(testenv.Kafka(t)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eventually(t, "delete group "+group, func() error {
		resp, err := kadm.NewClient(cl).DeleteGroup(ctx, group)
		if err != nil {
			return err
		}
		if errors.Is(resp.Err, kerr.GroupIDNotFound) {
			t.Fatalf("group %s has no committed offsets: the notifier never committed", group)
		}
		return resp.Err
	})
}

// startDevAt is the devSystem of a dev process serving addr.
func startDevAt(t *testing.T, addr string) *devSystem {
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &devSystem{t: t, base: "http://" + addr, doc: doc}
}
