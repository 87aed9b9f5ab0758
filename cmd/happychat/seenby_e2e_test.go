package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"happychat/internal/wstest"
	"happychat/schemas"
)

// "Seen by" end to end (issue 19 part 4, docs/adr/0010), on the dev wiring
// at feature level 5: a member's read mark reaches the other members'
// sockets as a read_mark frame with the room's seq, shows in GET room as
// read_up_to, is refused for a non-member and never published for it, and
// a resume across a reconnect delivers read_mark frames once each.

// markRead is POST /v1/rooms/{room}/read, checked against the OpenAPI
// document; it returns the status and body.
func (s *rtDev) markRead(room schemas.ID, u schemas.Session, upTo schemas.ID) (int, []byte) {
	s.t.Helper()
	st, _, b := s.call("POST", roomPath(room)+"/read", "/v1/rooms/:id/read", u.Token, map[string]string{"up_to": upTo.String()}, nil)
	return st, b
}

// readMarks is each member's read_up_to in GET room as u sees it.
func (s *rtDev) readMarks(room schemas.ID, u schemas.Session) map[schemas.ID]schemas.ID {
	s.t.Helper()
	out, st, b := s.tryReadMarks(room, u)
	if st != http.StatusOK {
		s.t.Fatalf("get room: %d %s", st, b)
	}
	return out
}

// tryReadMarks is readMarks that returns a failed GET's status and body.
func (s *rtDev) tryReadMarks(room schemas.ID, u schemas.Session) (map[schemas.ID]schemas.ID, int, []byte) {
	s.t.Helper()
	var r schemas.Room
	if st, _, b := s.call("GET", roomPath(room), "/v1/rooms/:id", u.Token, nil, &r); st != http.StatusOK {
		return nil, st, b
	}
	out := map[schemas.ID]schemas.ID{}
	for _, m := range *r.Members {
		out[m.UserID] = m.ReadUpTo
	}
	return out, http.StatusOK, nil
}

// waitMark polls GET room (the view lags the log: the room itself may not
// be in it yet when the socket, delivered ahead of the tail, already has
// the mark) until u sees member's mark at upTo.
func (s *rtDev) waitMark(room schemas.ID, u, member schemas.Session, upTo schemas.ID) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		marks, st, b := s.tryReadMarks(room, u)
		if st != http.StatusOK && st != http.StatusNotFound {
			s.t.Fatalf("get room: %d %s", st, b)
		}
		got := marks[member.UserID]
		if got == upTo {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("GET room: %s's mark is %s (status %d), want %s", member.Nickname, got, st, upTo)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readMarkFrames keeps the read_mark frames of events.
func readMarkFrames(events []wstest.Frame) []wstest.Frame {
	var out []wstest.Frame
	for _, f := range events {
		if f.Type == wstest.TypeReadMark {
			out = append(out, f)
		}
	}
	return out
}

func TestSeenByE2E(t *testing.T) {
	s := startRealtimeDev(t, nil)
	room := s.openRoom("seen by")
	mina := s.member(room, "mina")
	joon := s.member(room, "joon")
	stranger := s.session("stranger")
	m1 := s.post(room, mina, "first")

	a := dialRT(t, "mina", s.base, room, mina, m1.Seq, nil)
	a.presence()

	// Joon reads m1: Mina's socket gets the mark, with the room's next seq.
	if st, b := s.markRead(room, joon, m1.ID); st != http.StatusOK {
		t.Fatalf("mark: %d %s", st, b)
	}
	events, _ := a.eventsUntil(m1.Seq+1, 30*time.Second)
	f := events[len(events)-1]
	if f.Type != wstest.TypeReadMark || f.UserID != joon.UserID || f.UpTo != m1.ID || f.RoomID != room || f.Seq != m1.Seq+1 {
		t.Fatalf("want Joon's read_mark at seq %d, got %s", m1.Seq+1, f)
	}
	// GET room shows it to members, and not to anyone else.
	s.waitMark(room, mina, joon, m1.ID)
	for u, mark := range s.readMarks(room, stranger) {
		if mark != 0 {
			t.Fatalf("a stranger sees %s's mark %s", u, mark)
		}
	}

	// The same mark again, an older one: 200 as ever, nothing appended.
	if st, b := s.markRead(room, joon, m1.ID-1); st != http.StatusOK {
		t.Fatalf("stale mark: %d %s", st, b)
	}
	// A non-member has no mark in the room: 403, nothing published.
	if st, b := s.markRead(room, stranger, m1.ID); st != http.StatusForbidden {
		t.Fatalf("stranger's mark: %d %s, want 403", st, b)
	}
	// After the room's newest event: 400.
	if st, b := s.markRead(room, joon, m1.ID+1<<50); st != http.StatusBadRequest {
		t.Fatalf("a mark ahead of the room: %d %s, want 400", st, b)
	}
	// The next event Mina sees is the next message: neither the stale mark
	// nor the stranger's took a seq.
	m2 := s.post(room, mina, "second")
	if m2.Seq != m1.Seq+2 {
		t.Fatalf("second message at seq %d, want %d: a refused or stale mark took a seq", m2.Seq, m1.Seq+2)
	}
	events, _ = a.eventsUntil(m2.Seq, 30*time.Second)
	if len(events) != 1 || events[0].Type != wstest.TypeMessage {
		t.Fatalf("after the mark, want only the message, got %v", events)
	}

	// Resume: Mina drops her socket at m2; Joon reads m2, Mina sends m3,
	// Joon reads m3; Mina comes back with since_seq and gets each once, in
	// order, then a live mark.
	_ = a.ws.Close()
	if st, b := s.markRead(room, joon, m2.ID); st != http.StatusOK {
		t.Fatalf("mark m2: %d %s", st, b)
	}
	m3 := s.post(room, mina, "third")
	if st, b := s.markRead(room, joon, m3.ID); st != http.StatusOK {
		t.Fatalf("mark m3: %d %s", st, b)
	}
	b := dialRT(t, "mina again", s.base, room, mina, m2.Seq, nil)
	p := b.presence()
	for _, m := range p.Members {
		if m.UserID == joon.UserID && m.ReadUpTo != m3.ID {
			t.Fatalf("presence says Joon read up to %s, want %s", m.ReadUpTo, m3.ID)
		}
	}
	last := m3.Seq + 1
	events, _ = b.eventsUntil(last, 30*time.Second)
	checkSeqRun(t, "mina resumed", events, m2.Seq+1, last)
	marks := readMarkFrames(events)
	if len(marks) != 2 || marks[0].UpTo != m2.ID || marks[1].UpTo != m3.ID {
		t.Fatalf("resumed read marks %v, want m2's then m3's", marks)
	}
	// Mina reads the room herself: Joon's socket, opened now, sees it live.
	c := dialRT(t, "joon", s.base, room, joon, last, nil)
	c.presence()
	if st, b := s.markRead(room, mina, m3.ID); st != http.StatusOK {
		t.Fatalf("Mina's mark: %d %s", st, b)
	}
	for _, cl := range []*rtClient{b, c} {
		events, _ = cl.eventsUntil(last+1, 30*time.Second)
		if len(events) != 1 || events[0].Type != wstest.TypeReadMark || events[0].UserID != mina.UserID || events[0].UpTo != m3.ID {
			t.Fatalf("%s: want Mina's live mark, got %v", cl.name, events)
		}
	}
	s.waitMark(room, joon, mina, m3.ID)
	s.waitMark(room, joon, joon, m3.ID)

	// The SSE fallback, resumed by Last-Event-ID at m2: the same events,
	// read marks included, each an event named read_mark with id = seq.
	req, err := http.NewRequest(http.MethodGet, s.base+roomPath(room)+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+mina.Token)
	req.Header.Set("Last-Event-ID", strconv.FormatInt(m2.Seq, 10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream: %d", resp.StatusCode)
	}
	stream := wstest.NewSSE(resp.Body)
	var sseEvents []wstest.Frame
	for len(sseEvents) == 0 || sseEvents[len(sseEvents)-1].EventSeq() < last+1 {
		f, err := stream.Next(30 * time.Second)
		if err != nil {
			t.Fatalf("event stream after %d events: %v", len(sseEvents), err)
		}
		if f.IsEvent() {
			sseEvents = append(sseEvents, f)
		}
	}
	checkSeqRun(t, "mina over SSE", sseEvents, m2.Seq+1, last+1)
	marks = readMarkFrames(sseEvents)
	if len(marks) != 3 || marks[2].UserID != mina.UserID {
		t.Fatalf("SSE read marks %v, want Joon's two and Mina's", marks)
	}
	for _, f := range marks {
		if f.SSEEvent != wstest.TypeReadMark || f.SSEID != strconv.FormatInt(f.Seq, 10) {
			t.Fatalf("SSE read_mark event %q id %q: %s", f.SSEEvent, f.SSEID, f)
		}
	}
}
