package command

import (
	"slices"
	"testing"

	"happychat/schemas"
)

// Unit tests of the level-5 use cases: blocks (in the pair's room) and
// reports with their resolution.

func TestDecideBlock(t *testing.T) {
	dp := testDeps(20, users{})
	pair := schemas.DirectRoomID(1, 2)
	block := Command{Kind: KindBlock, RoomID: pair, UserID: 1, Peer: 2, PeerNickname: "b"}
	d, r, err := decideBlock(nil, block, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeConversationCreated, schemas.TypeBlockAdded}) {
		t.Fatalf("block with no direct messages yet: %v %v", err, types(d))
	}
	if len(r.members) != 0 || !r.blocks(1) || r.blocks(2) {
		t.Fatalf("room after the block: %+v", r)
	}
	if d, _, err := decideBlock(r, block, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("blocking again: %v %v", err, types(d))
	}
	// Neither side opens the direct messages, each with its own message.
	for _, u := range []schemas.ID{1, 2} {
		_, _, err := decideCreateDirect(r, Command{Kind: KindCreateDirect, RoomID: pair, UserID: u, Nickname: "x", Peer: 3 - u, PeerNickname: "y"}, dp)
		if code(err) != schemas.CodeBlocked {
			t.Errorf("user %d opens the direct messages of a blocked pair: %v", u, err)
		}
	}
	// A bad pair is refused before anything.
	if _, _, err := decideBlock(nil, Command{Kind: KindBlock, RoomID: 99, UserID: 1, Peer: 2, PeerNickname: "b"}, dp); code(err) != schemas.CodeBadRequest {
		t.Errorf("block in another room: %v", err)
	}
	d, err = decideUnblock(r, Command{Kind: KindUnblock, RoomID: pair, UserID: 1, Peer: 2}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeBlockRemoved}) || r.blockedPair() {
		t.Fatalf("unblock: %v %v", err, types(d))
	}
	if d, err := decideUnblock(r, Command{Kind: KindUnblock, RoomID: pair, UserID: 2, Peer: 1}, dp); err != nil || len(d.events) != 0 {
		t.Fatalf("unblocking someone not blocked: %v %v", err, types(d))
	}
	// Unblocked, the pair opens its direct messages in the same room.
	d, _, err = decideCreateDirect(r, Command{Kind: KindCreateDirect, RoomID: pair, UserID: 2, Nickname: "b", Peer: 1, PeerNickname: "a"}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeMemberAdded, schemas.TypeMemberAdded}) {
		t.Fatalf("open after unblock: %v %v", err, types(d))
	}
	// A block in an existing conversation refuses sends both ways.
	if _, _, err := decideBlock(r, Command{Kind: KindBlock, RoomID: pair, UserID: 2, Peer: 1, PeerNickname: "a"}, dp); err != nil {
		t.Fatal(err)
	}
	for _, u := range []schemas.ID{1, 2} {
		_, err := decideSend(r, Command{Kind: KindSend, RoomID: pair, UserID: u, Nickname: "x", Body: "hi", ClientMsgID: "c" + schemas.ID(u).String()}, dp)
		if code(err) != schemas.CodeBlocked {
			t.Errorf("user %d sends in a blocked conversation: %v", u, err)
		}
	}
	// The snapshot keeps the block.
	var back room
	back.installMod(r.snapMod())
	if !back.blocks(2) || back.blocks(1) {
		t.Errorf("snapshot of the blocks: %+v", back.blockers)
	}
}

func TestDecideReport(t *testing.T) {
	dp := testDeps(20, users{})
	r, msg := roomWithMessage(t, dp) // by user 1; user 2 is a member
	report := func(user schemas.ID, reason string) (decision, error) {
		return decideReport(r, Command{Kind: KindReport, RoomID: 7, UserID: user, MessageID: msg, Reason: reason, Body: "note"}, dp)
	}
	d, err := report(2, schemas.ReportReasonSpam)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeReportFiled}) || !d.result.Created {
		t.Fatalf("report: %v %v", err, types(d))
	}
	id := d.result.Report
	p := d.events[0].Payload.(schemas.ReportFiled)
	if id != d.events[0].ID || p.AuthorID != 1 || p.AuthorNickname != "a" || p.Nickname != "b" || p.MessageSeq < 1 {
		t.Fatalf("report.filed %+v", p)
	}
	if d, err := report(2, schemas.ReportReasonHate); err != nil || len(d.events) != 0 || d.result.Report != id {
		t.Fatalf("reporting again answers the open report: %v %+v", err, d.result)
	}
	if _, err := report(1, schemas.ReportReasonSpam); code(err) != schemas.CodeBadRequest {
		t.Errorf("reporting one's own message: %v", err)
	}
	if _, err := report(9, schemas.ReportReasonSpam); code(err) != schemas.CodeForbidden {
		t.Errorf("a stranger reports: %v", err)
	}
	if _, err := decideReport(r, Command{Kind: KindReport, UserID: 2, MessageID: 424242, Reason: "spam"}, dp); code(err) != schemas.CodeNotFound {
		t.Errorf("an unknown message: %v", err)
	}
	// Only an admin resolves.
	if _, err := decideResolveReport(r, Command{Kind: KindResolveReport, UserID: 2, MessageID: id, Reason: schemas.ReportOutcomeDismissed}, dp); code(err) != schemas.CodeForbidden {
		t.Errorf("a user resolves: %v", err)
	}
	// The author deletes the reported message; the admin resolves with
	// delete: no second delete, one resolution, erased.
	if _, err := decideDelete(r, Command{Kind: KindDelete, UserID: 1, MessageID: msg}, dp); err != nil {
		t.Fatal(err)
	}
	d, err = decideResolveReport(r, Command{Kind: KindResolveReport, Admin: true, MessageID: id, Reason: schemas.ReportOutcomeDeleted}, dp)
	if err != nil || !slices.Equal(types(d), []string{schemas.TypeReportResolved}) {
		t.Fatalf("resolve: %v %v", err, types(d))
	}
	if rr := d.events[0].Payload.(schemas.ReportResolved); rr.ReportID != id || !rr.Erased || rr.Outcome != schemas.ReportOutcomeDeleted {
		t.Fatalf("report.resolved %+v", rr)
	}
	if _, err := decideResolveReport(r, Command{Kind: KindResolveReport, Admin: true, MessageID: id, Reason: schemas.ReportOutcomeDeleted}, dp); code(err) != schemas.CodeNotFound {
		t.Errorf("resolving again: %v", err)
	}
	if _, err := report(2, schemas.ReportReasonSpam); code(err) != schemas.CodeNotFound {
		t.Errorf("reporting a deleted message: %v", err)
	}
}

func TestResolveDeletesAndResolvesEveryReport(t *testing.T) {
	dp := testDeps(20, users{})
	r, msg := roomWithMessage(t, dp)
	if _, err := decideJoin(r, Command{Kind: KindJoin, RoomID: 7, UserID: 3, Nickname: "c"}, dp); err != nil {
		t.Fatal(err)
	}
	var ids []schemas.ID
	for _, u := range []schemas.ID{2, 3} {
		d, err := decideReport(r, Command{Kind: KindReport, RoomID: 7, UserID: u, MessageID: msg, Reason: "spam"}, dp)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.result.Report)
	}
	d, err := decideResolveReport(r, Command{Kind: KindResolveReport, Admin: true, MessageID: ids[1], Reason: schemas.ReportOutcomeDeleted}, dp)
	want := []string{schemas.TypeMessageDeleted, schemas.TypeReportResolved, schemas.TypeReportResolved}
	if err != nil || !slices.Equal(types(d), want) || len(r.reports) != 0 {
		t.Fatalf("resolve with delete: %v %v, open %v", err, types(d), r.reports)
	}
	if del := d.events[0].Payload.(schemas.MessageDeleted); !del.ByAdmin || del.MessageID != msg {
		t.Fatalf("delete %+v", del)
	}
}

func TestHoldsOf(t *testing.T) {
	ev := func(p schemas.Event) schemas.Envelope { return schemas.Envelope{Payload: p} }
	filed := func(m schemas.ID) schemas.Envelope { return ev(schemas.ReportFiled{MessageID: m}) }
	resolved := func(m schemas.ID) schemas.Envelope { return ev(schemas.ReportResolved{MessageID: m}) }
	hold, release := holdsOf([]schemas.Envelope{filed(1), resolved(2), resolved(3), filed(3), filed(1), ev(schemas.MessageDeleted{MessageID: 4})})
	if !slices.Equal(hold, []schemas.ID{1, 3}) || !slices.Equal(release, []schemas.ID{2}) {
		t.Fatalf("hold %v release %v", hold, release)
	}
}
