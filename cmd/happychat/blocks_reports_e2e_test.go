package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/testenv"
	"happychat/query"
	"happychat/schemas"
)

// TestReportHoldThenErase is the hold of docs/adr/0009 end to end: a
// member reports a message, its author deletes it (every view shows the
// tombstone), the admins' queue still reads its text (the key store and
// the history keep it while the report is open), and the admin's
// resolution erases it: the erasure test's search of every store (the
// log's bytes and the log opened with the keys, every PostgreSQL table,
// every ClickHouse part) then finds it nowhere, nor after a fresh replay.
func TestReportHoldThenErase(t *testing.T) {
	s := startRealtimeDev(t, map[string]string{"CHAT_SNAPSHOT_INTERVAL": "1s"})
	alice, bob := s.session("alice"), s.session("bob")
	room := s.openRoom("reports")
	s.join(room, alice)
	s.join(room, bob)
	ctx := context.Background()
	secret := "report-me-" + testenv.RandomHex(6)
	msg := s.post(room, alice, secret)
	reportPath := roomPath(room) + "/messages/" + msg.ID.String() + "/reports"
	const reportRoute = "/v1/rooms/:id/messages/:message_id/reports"

	var filed struct {
		ReportID schemas.ID `json:"report_id"`
	}
	if st, _, b := s.call("POST", reportPath, reportRoute, bob.Token, map[string]string{"reason": "harassment", "note": "계속 이래요"}, &filed); st != 201 {
		t.Fatalf("report: %d %s", st, b)
	}
	var again struct {
		ReportID schemas.ID `json:"report_id"`
	}
	if st, _, b := s.call("POST", reportPath, reportRoute, bob.Token, map[string]string{"reason": "spam"}, &again); st != 200 || again != filed {
		t.Fatalf("reporting again: %d %s, want 200 and report %s", st, b, filed.ReportID)
	}
	if st, _, b := s.call("POST", reportPath, reportRoute, alice.Token, map[string]string{"reason": "spam"}, nil); st != 400 || !strings.Contains(string(b), "your own message") {
		t.Fatalf("reporting one's own message: %d %s", st, b)
	}
	if st, _, b := s.call("GET", "/v1/admin/reports", "/v1/admin/reports", bob.Token, nil, nil); st != 403 {
		t.Fatalf("queue for a user: %d %s", st, b)
	}

	// The author deletes it: tombstone in the history, text in the queue.
	if st, _, b := s.call("DELETE", roomPath(room)+"/messages/"+msg.ID.String(), "/v1/rooms/:id/messages/:message_id", alice.Token, nil, nil); st != 204 {
		t.Fatalf("delete: %d %s", st, b)
	}
	queue := func(status string) []query.Report {
		t.Helper()
		var page struct {
			Reports []query.Report `json:"reports"`
		}
		if st, _, b := s.call("GET", "/v1/admin/reports?status="+status, "/v1/admin/reports", e2eAdmin, nil, &page); st != 200 {
			t.Fatalf("queue: %d %s", st, b)
		}
		return page.Reports
	}
	eventually(t, "the queue shows the deleted message's text", func() error {
		for _, r := range queue("open") {
			if r.ID == filed.ReportID {
				if r.Text == nil || *r.Text != secret || !r.MessageDeleted || r.Reason != "harassment" || r.ReporterID != bob.UserID ||
					r.AuthorID != alice.UserID || r.RoomID != room || r.Note != "계속 이래요" {
					return fmt.Errorf("report %+v", r)
				}
				return nil
			}
		}
		return fmt.Errorf("report %s not in the queue", filed.ReportID)
	})
	eventually(t, "the history shows the tombstone", func() error {
		var page struct {
			Messages []schemas.Message `json:"messages"`
		}
		s.call("GET", roomPath(room)+"/messages", "/v1/rooms/:id/messages", bob.Token, nil, &page)
		for _, m := range page.Messages {
			if m.ID == msg.ID && m.Deleted && m.Body == "" {
				return nil
			}
		}
		return fmt.Errorf("history %+v", page.Messages)
	})

	pg, err := pgxpool.New(ctx, s.env["PG_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	ch := openClickHouse(t, s.env)
	rooms := schemas.NamesFor(s.env["CHAT_TOPIC_PREFIX"]).Rooms
	brokers := strings.Split(s.env["KAFKA_BROKERS"], ",")
	search := func() map[string]int {
		found := map[string]int{}
		found["kafka "+rooms] += searchLog(t, brokers, rooms, secret)
		found["kafka "+rooms+" opened"] += searchOpened(t, pg, brokers, rooms, secret)
		for where, k := range searchPostgres(t, pg, secret) {
			found["postgres "+where] += k
		}
		for where, k := range searchClickHouse(t, ch, secret) {
			found["clickhouse "+where] += k
		}
		for k, v := range found {
			if v == 0 {
				delete(found, k)
			}
		}
		return found
	}
	// Held: the log still opens to the text, the history keeps it.
	if f := search(); f["kafka "+rooms+" opened"] == 0 || f["clickhouse messages.text"] == 0 || f["kafka "+rooms] != 0 {
		t.Fatalf("during the hold: %v", f)
	}

	if st, _, b := s.call("POST", "/v1/admin/reports/"+filed.ReportID.String()+"/resolve", "/v1/admin/reports/:id/resolve", bob.Token,
		map[string]string{"outcome": "deleted"}, nil); st != 403 {
		t.Fatalf("a user resolves: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/admin/reports/"+filed.ReportID.String()+"/resolve", "/v1/admin/reports/:id/resolve", e2eAdmin,
		map[string]string{"outcome": "deleted"}, nil); st != 204 {
		t.Fatalf("resolve: %d %s", st, b)
	}
	eventually(t, "no store yields the text after the resolution", func() error {
		if f := search(); len(f) > 0 {
			return fmt.Errorf("still found in %v", f)
		}
		return nil
	})
	eventually(t, "the resolved report reads as erased", func() error {
		for _, r := range queue("resolved") {
			if r.ID == filed.ReportID {
				if r.Text != nil || r.Status != "resolved" || r.Outcome == nil || *r.Outcome != "deleted" || r.ResolvedAt == nil {
					return fmt.Errorf("report %+v", r)
				}
				return nil
			}
		}
		return fmt.Errorf("report %s not resolved yet", filed.ReportID)
	})
	if st, _, b := s.call("POST", "/v1/admin/reports/"+filed.ReportID.String()+"/resolve", "/v1/admin/reports/:id/resolve", e2eAdmin,
		map[string]string{"outcome": "dismissed"}, nil); st != 404 {
		t.Fatalf("resolving again: %d %s", st, b)
	}
	if err := run(ctx, Env{Getenv: func(k string) string { return s.env[k] }, Stdout: io.Discard, Stderr: os.Stderr},
		[]string{"replay", "--view", "all"}); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if f := search(); len(f) > 0 {
		t.Fatalf("after a replay, found in %v", f)
	}
}

// TestBlocks: a block refuses direct messages both ways (to open them and,
// in existing ones, to send), hides the blocked user's messages from the
// blocker's history and timeline (and only the blocker's), and lifts.
func TestBlocks(t *testing.T) {
	s := startRealtimeDev(t, nil)
	alice, bob := s.session("alice"), s.session("bob")
	room := s.openRoom("blocks")
	s.join(room, alice)
	s.join(room, bob)
	const blocksRoute, dmRoute = "/v1/me/blocks", "/v1/dms"

	var dm schemas.Room
	if st, _, b := s.call("POST", "/v1/dms", dmRoute, alice.Token, map[string]any{"user_id": bob.UserID}, &dm); st != 201 {
		t.Fatalf("open dm: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/me/blocks", blocksRoute, alice.Token, map[string]any{"user_id": alice.UserID}, nil); st != 400 {
		t.Fatalf("block self: %d %s", st, b)
	}
	if st, _, b := s.call("POST", "/v1/me/blocks", blocksRoute, alice.Token, map[string]any{"user_id": bob.UserID}, nil); st != 204 {
		t.Fatalf("block: %d %s", st, b)
	}
	hidden := s.post(room, bob, "you should not see this")
	for _, u := range []schemas.Session{alice, bob} {
		var e schemas.ErrorBody
		st, _, b := s.call("POST", roomPath(dm.ID)+"/messages", "/v1/rooms/:id/messages", u.Token,
			map[string]string{"body": "hi", "client_msg_id": "dm-" + testenv.RandomHex(4)}, nil)
		if st != http.StatusForbidden || schemas.StrictUnmarshal(b, &e) != nil || e.Error.Code != schemas.CodeBlocked {
			t.Fatalf("%s sends in a blocked dm: %d %s", u.Nickname, st, b)
		}
	}
	if st, _, b := s.call("POST", "/v1/dms", dmRoute, bob.Token, map[string]any{"user_id": alice.UserID}, nil); st != 403 || !strings.Contains(string(b), `"blocked"`) {
		t.Fatalf("the blocked user opens the dm: %d %s", st, b)
	}
	eventually(t, "the block list and the hidden messages", func() error {
		var list struct {
			Blocks []query.Block `json:"blocks"`
		}
		s.call("GET", "/v1/me/blocks", blocksRoute, alice.Token, nil, &list)
		if len(list.Blocks) != 1 || list.Blocks[0].UserID != bob.UserID || list.Blocks[0].Nickname != "bob" {
			return fmt.Errorf("blocks %+v", list.Blocks)
		}
		var page struct {
			Messages []schemas.Message `json:"messages"`
		}
		s.call("GET", roomPath(room)+"/messages", "/v1/rooms/:id/messages", bob.Token, nil, &page)
		if len(page.Messages) != 1 || page.Messages[0].ID != hidden.ID {
			return fmt.Errorf("bob's own history %+v", page.Messages)
		}
		s.call("GET", roomPath(room)+"/messages", "/v1/rooms/:id/messages", alice.Token, nil, &page)
		if len(page.Messages) != 0 {
			return fmt.Errorf("alice still sees %+v", page.Messages)
		}
		var tl struct {
			Items []query.TimelineItem `json:"items"`
		}
		s.call("GET", roomPath(room)+"/timeline", "/v1/rooms/:id/timeline", alice.Token, nil, &tl)
		for _, it := range tl.Items {
			if it.Message != nil && it.Message.UserID == bob.UserID {
				return fmt.Errorf("alice's timeline shows %+v", it.Message)
			}
		}
		return nil
	})
	if st, _, b := s.call("DELETE", "/v1/me/blocks/"+bob.UserID.String(), "/v1/me/blocks/:user_id", alice.Token, nil, nil); st != 204 {
		t.Fatalf("unblock: %d %s", st, b)
	}
	if st, _, b := s.call("POST", roomPath(dm.ID)+"/messages", "/v1/rooms/:id/messages", bob.Token,
		map[string]string{"body": "hi again", "client_msg_id": "dm-after"}, nil); st != 201 {
		t.Fatalf("send after unblock: %d %s", st, b)
	}
	eventually(t, "the messages shown again", func() error {
		var page struct {
			Messages []schemas.Message `json:"messages"`
		}
		s.call("GET", roomPath(room)+"/messages", "/v1/rooms/:id/messages", alice.Token, nil, &page)
		if len(page.Messages) != 1 {
			return fmt.Errorf("alice sees %+v", page.Messages)
		}
		return nil
	})
}
