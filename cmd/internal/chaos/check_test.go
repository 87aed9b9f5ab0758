package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

// Unit tests of the pure checks, on hand-made histories. The suite itself
// runs against the real servers only through `happychat-chaos`.

const (
	roomA = schemas.ID(100)
	roomB = schemas.ID(200)
	ann   = schemas.ID(1)
	bob   = schemas.ID(2)
	cat   = schemas.ID(3)
)

// hist builds room events; each event's id is 1000+its index.
type hist []schemas.Envelope

func (h hist) add(room schemas.ID, seq int64, user schemas.ID, p schemas.Event) hist {
	return append(h, schemas.Envelope{ID: schemas.ID(1000 + len(h)), RoomID: room, Seq: seq, UserID: user,
		OccurredAt: time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC), Payload: p})
}

// lastID gives the last event another id (a clock gone back).
func (h hist) lastID(id schemas.ID) hist {
	h[len(h)-1].ID = id
	return h
}

func created() schemas.Event { return schemas.RoomCreated{Title: "t"} }
func joined() schemas.Event  { return schemas.RoomJoined{Nickname: "n"} }
func left() schemas.Event    { return schemas.RoomLeft{Reason: schemas.LeftReasonLeft, Nickname: "n"} }
func sent(clientMsgID string) schemas.Event {
	return schemas.MessageSent{Text: "hi", ClientMsgID: clientMsgID, Nickname: "n"}
}

// good is a clean history of two rooms: A with ann and bob talking, B with
// cat, who then leaves.
func good() hist {
	var h hist
	h = h.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, bob, joined()).
		add(roomA, 4, ann, sent("m1")).add(roomA, 5, bob, sent("m2"))
	h = h.add(roomB, 1, 0, created()).add(roomB, 2, cat, joined()).add(roomB, 3, cat, sent("m3")).add(roomB, 4, cat, left())
	return h
}

func kinds(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

func TestFoldLog(t *testing.T) {
	tests := []struct {
		name     string
		events   hist
		capacity int
		want     []string
	}{
		{"clean", good(), 20, nil},
		{"gap", hist{}.add(roomA, 1, 0, created()).add(roomA, 3, ann, joined()), 20, []string{KindSeqGap}},
		{"repeat", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 2, bob, joined()), 20, []string{KindSeqRepeat}},
		{"starts above 1", hist{}.add(roomA, 2, 0, created()), 20, []string{KindSeqGap}},
		{"capacity at a prefix", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, bob, joined()).
			add(roomA, 4, cat, joined()).add(roomA, 5, cat, left()), 2, []string{KindCapacity}},
		{"capacity exactly", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, bob, joined()), 2, nil},
		{"double join", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, joined()), 20, []string{KindDoubleJoin}},
		{"rejoin after leave", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, left()).add(roomA, 4, ann, joined()), 20, nil},
		{"leave of a non-member", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, left()), 20, []string{KindLeaveNoMember}},
		{"message of a non-member", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, sent("x")), 20, []string{KindNonMember}},
		{"message after leaving", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, left()).add(roomA, 4, ann, sent("x")), 20, []string{KindNonMember}},
		{"duplicate client_msg_id", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, sent("x")).add(roomA, 4, ann, sent("x")), 20, []string{KindDuplicate}},
		{"same client_msg_id of two users", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, bob, joined()).
			add(roomA, 4, ann, sent("x")).add(roomA, 5, bob, sent("x")), 20, nil},
		{"id going back in a room", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, sent("x")).lastID(1001), 20, []string{KindIDOrder}},
		{"id repeated in a room", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).lastID(1000), 20, []string{KindIDOrder}},
		{"ids of two rooms interleaved", hist{}.add(roomA, 1, 0, created()).add(roomB, 1, 0, created()).lastID(999), 20, nil},
		{"same client_msg_id in two rooms", hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, sent("x")).
			add(roomB, 1, 0, created()).add(roomB, 2, ann, joined()).add(roomB, 3, ann, sent("x")), 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := FoldLog(tt.events, tt.capacity)
			if got := kinds(f.Findings); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v: %+v", got, tt.want, f.Findings)
			}
		})
	}
}

// TestCheckSendsSealed: from feature level 4 a text is read through its
// key (docs/adr/0009). A text whose key is gone was lost, unless the
// message was deleted since.
func TestCheckSendsSealed(t *testing.T) {
	erased := schemas.MessageSent{ClientMsgID: "m1", Nickname: "n", Erased: true}
	h := hist{}.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, ann, erased)
	ack := Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 1002, AckSeq: 3, AckBody: "hi"}
	if got := kinds(CheckSends([]*Send{&ack}, FoldLog(h, 20))); !slices.Equal(got, []string{KindLost}) {
		t.Fatalf("key gone, not deleted: findings %v, want [%s]", got, KindLost)
	}
	h = h.add(roomA, 4, ann, schemas.MessageDeleted{MessageID: 1002, AuthorID: ann, Nickname: "n", MessageSeq: 3})
	if got := kinds(CheckSends([]*Send{&ack}, FoldLog(h, 20))); got != nil {
		t.Fatalf("key gone after its delete: findings %v, want none", got)
	}
}

func TestFoldLogState(t *testing.T) {
	f := FoldLog(good(), 20)
	a, b := f.Rooms[roomA], f.Rooms[roomB]
	if a.Seq != 5 || a.Messages != 2 || len(a.Members) != 2 || !slices.Equal(a.IDs, []schemas.ID{1000, 1001, 1002, 1003, 1004}) {
		t.Fatalf("room A: %+v", a)
	}
	if b.Seq != 4 || b.Messages != 1 || len(b.Members) != 0 {
		t.Fatalf("room B: %+v", b)
	}
}

func TestCheckSends(t *testing.T) {
	f := FoldLog(good(), 20) // m1: ann in A, event 1003 seq 4
	tests := []struct {
		name string
		send Send
		want []string
	}{
		{"acknowledged and in the log", Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 1003, AckSeq: 4}, nil},
		{"acknowledged, missing", Send{Room: roomA, User: ann, ClientMsgID: "m9", Outcome: Acked, AckID: 77, AckSeq: 9}, []string{KindLost}},
		{"acknowledged under another id", Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 999, AckSeq: 4}, []string{KindLost}},
		{"acknowledged with another seq", Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 1003, AckSeq: 5}, []string{KindLost}},
		{"acknowledged, in another room", Send{Room: roomB, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 1003, AckSeq: 4}, []string{KindLost}},
		{"failed and absent", Send{Room: roomA, User: ann, ClientMsgID: "m9", Outcome: Failed}, nil},
		{"indeterminate and absent", Send{Room: roomA, User: ann, ClientMsgID: "m9", Outcome: Indeterminate}, nil},
		{"indeterminate but present", Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Indeterminate}, nil},
		{"acknowledged text reads as answered", Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 1003, AckSeq: 4, AckBody: "hi"}, nil},
		{"acknowledged text reads otherwise", Send{Room: roomA, User: ann, ClientMsgID: "m1", Outcome: Acked, AckID: 1003, AckSeq: 4, AckBody: "hello"}, []string{KindLost}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.send
			if got := kinds(CheckSends([]*Send{&s}, f)); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckOneRoom(t *testing.T) {
	var h hist
	h = h.add(roomA, 1, 0, created()).add(roomA, 2, ann, joined()).add(roomA, 3, bob, joined())
	h = h.add(roomB, 1, 0, created()).add(roomB, 2, ann, joined()).add(roomB, 3, bob, joined()).add(roomA, 4, bob, schemas.RoomLeft{Reason: schemas.LeftReasonSwitched, Nickname: "n", SwitchedTo: roomB})
	f := FoldLog(h, 20)
	tests := []struct {
		name  string
		users []schemas.ID
		want  []string
	}{
		{"switched with its leave", []schemas.ID{bob}, nil},
		{"switch-leave missing", []schemas.ID{ann}, []string{KindTwoRooms}},
		{"both", []schemas.ID{ann, bob, cat}, []string{KindTwoRooms}},
		{"nobody", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(CheckOneRoom(f, tt.users)); !slices.Equal(got, tt.want) {
				t.Fatalf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckDelivery(t *testing.T) {
	f := FoldLog(good(), 20) // room A: seq 1..5, messages at 4 (1003) and 5 (1004)
	ids := map[int64]schemas.ID{4: 1003, 5: 1004}
	tests := []struct {
		name    string
		d       Delivery
		want    []string
		message string
	}{
		{"all from the start", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 2, 3, 4, 5}, IDs: ids}, nil, ""},
		{"resumed from since_seq", Delivery{Name: "s", Room: roomA, Since: 3, Seqs: []int64{4, 5}, IDs: ids}, nil, ""},
		{"gap", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 2, 4, 5}}, []string{KindDelivery}, "missed 3..3"},
		{"twice", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 2, 3, 3, 4, 5}}, []string{KindDelivery}, "again or out of order"},
		{"reordered", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 3, 2, 4, 5}}, []string{KindDelivery}, "missed 2..2"},
		{"stopped early", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 2, 3}}, []string{KindDelivery}, "stopped at seq 3"},
		{"nothing", Delivery{Name: "s", Room: roomA}, []string{KindDelivery}, "stopped at seq 0"},
		{"beyond the log", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 2, 3, 4, 5, 6}}, []string{KindDelivery}, "beyond"},
		{"wrong message at a seq", Delivery{Name: "s", Room: roomA, Seqs: []int64{1, 2, 3, 4, 5}, IDs: map[int64]schemas.ID{4: 1004}},
			[]string{KindDelivery}, "delivered message 1004"},
		{"unknown room", Delivery{Name: "s", Room: 999, Seqs: []int64{1}}, []string{KindDelivery}, "not in the log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckDelivery([]Delivery{tt.d}, f)
			if !slices.Equal(kinds(got), tt.want) {
				t.Fatalf("findings %+v, want %v", got, tt.want)
			}
			if tt.message != "" && !strings.Contains(got[0].Detail, tt.message) {
				t.Fatalf("detail %q, want it to mention %q", got[0].Detail, tt.message)
			}
		})
	}
}

func TestTallyAndStatuses(t *testing.T) {
	sends := []*Send{
		{Outcome: Acked, Statuses: []int{0, 503, 201}},
		{Outcome: Failed, Statuses: []int{503, 503}},
		{Outcome: Indeterminate, Statuses: []int{0}},
		{Outcome: Failed, Room: roomA, Statuses: []int{500}},
		{Outcome: Failed, Room: roomB, Statuses: []int{403}},
	}
	tl := TallySends(sends)
	if tl.Attempted != 5 || tl.Acknowledged != 1 || tl.Failed != 3 || tl.Indeterminate != 1 || tl.Attempts != 8 ||
		tl.Statuses["503"] != 3 || tl.Statuses["0"] != 2 {
		t.Fatalf("tally %+v", tl)
	}
	got := CheckStatuses(sends)
	if len(got) != 2 || got[0].Room != roomB || got[1].Room != roomA || !strings.Contains(got[1].Detail, "answered 500") {
		t.Fatalf("statuses %+v", got)
	}
}

func TestOnly(t *testing.T) {
	fs := []Finding{{Kind: KindSeqGap, Room: roomA}, {Kind: KindSeqGap, Room: roomB}, {Kind: KindProcess}}
	got := Only(fs, map[schemas.ID]bool{roomB: true})
	if len(got) != 2 || got[0].Room != roomB || got[1].Kind != KindProcess {
		t.Fatalf("%+v", got)
	}
}

func TestCompareViews(t *testing.T) {
	f := FoldLog(good(), 20) // A: seq 5, 2 messages, 2 members
	exact := ViewRoom{PGFound: true, PGMessages: 2, PGMembers: 2, PGLastSeq: 5, CHMessages: 2, CHEvents: 5, CHMaxSeq: 5}
	tests := []struct {
		name string
		v    ViewRoom
		want string
	}{
		{"exact", exact, ""},
		{"no PostgreSQL row", ViewRoom{CHMessages: 2, CHEvents: 5, CHMaxSeq: 5}, "no PostgreSQL row"},
		{"PostgreSQL behind", func() ViewRoom { v := exact; v.PGMessages, v.PGLastSeq = 1, 4; return v }(), "message_count 1, log 2; PostgreSQL last_seq 4"},
		{"members differ", func() ViewRoom { v := exact; v.PGMembers = 3; return v }(), "member_count 3"},
		{"ClickHouse duplicate", func() ViewRoom { v := exact; v.CHMessages = 3; return v }(), "ClickHouse messages 3"},
		{"ClickHouse event missing", func() ViewRoom { v := exact; v.CHEvents = 4; return v }(), "room_events 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CompareViews(f, []schemas.ID{roomA}, map[schemas.ID]ViewRoom{roomA: tt.v})
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("%+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != KindView || !strings.Contains(got[0].Detail, tt.want) {
				t.Fatalf("%+v, want %q", got, tt.want)
			}
		})
	}
}

func TestResultFigures(t *testing.T) {
	var r Result
	r.addFindings(Finding{Kind: KindLost}, Finding{Kind: KindDuplicate}, Finding{Kind: KindDuplicate}, Finding{Kind: KindSeqGap}, Finding{Kind: KindView})
	if r.LostAcknowledged != 1 || r.Duplicates != 2 || r.InvariantViolations != 2 || r.Passed() {
		t.Fatalf("%+v", r)
	}
	for range maxFindings + 10 {
		r.addFindings(Finding{Kind: KindDelivery})
	}
	if len(r.Findings) != maxFindings || r.InvariantViolations != maxFindings+12 {
		t.Fatalf("%d findings kept, %d violations", len(r.Findings), r.InvariantViolations)
	}
	ok := Result{Name: "baseline", Tally: Tally{Attempted: 3, Acknowledged: 3}, RecoveryMS: -1, ProjectionLagMS: 1500, CatchUpMS: -1, DurationMS: 900}
	line := ok.Line()
	for _, want := range []string{"ok", "baseline", "acked      3", "lost acked 0", "duplicates 0", "invariant violations 0", "recovery       -", "projection lag    1.5s", "900ms"} {
		if !strings.Contains(line, want) {
			t.Fatalf("line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "catch-up") {
		t.Fatalf("line %q shows a catch-up time, which only store faults have", line)
	}
	ok.CatchUpMS = 2400
	if line := ok.Line(); !strings.Contains(line, "projection lag    1.5s | catch-up    2.4s") {
		t.Fatalf("line %q lacks the store fault's catch-up time", line)
	}
}

func TestSamples(t *testing.T) {
	text := `# HELP x y
# TYPE happychat_projector_dead_letters_total counter
happychat_projector_dead_letters_total{projector="postgres"} 2
happychat_projector_dead_letters_total{projector="clickhouse"} 2
happychat_projector_events_total{projector="postgres",type="poison"} 1
happychat_projector_events_total{projector="postgres",type="message.sent"} 40
go_goroutines 12
broken line
`
	if got := sumSeries(text, "happychat_projector_dead_letters_total", ""); got != 4 {
		t.Fatalf("dead letters %v", got)
	}
	if got := sumSeries(text, "happychat_projector_events_total", `type="poison"`); got != 1 {
		t.Fatalf("poison %v", got)
	}
	if got := sumSeries(text, "go_goroutines", ""); got != 12 {
		t.Fatalf("goroutines %v", got)
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p50, p99 := quantileMS(ds, 0.5), quantileMS(ds, 0.99); p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %v p99 %v", p50, p99)
	}
	if quantileMS(nil, 0.99) != 0 {
		t.Fatal("empty")
	}
}

func TestChildEnv(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "CHAT_ADMIN_TOKEN=leak", "KAFKA_BROKERS=x", "PG_URL=y", "CLICKHOUSE_DB=z", "HOME=/root"},
		map[string]string{"CHAT_TOPIC_PREFIX": "p"})
	slices.Sort(got)
	if want := []string{"CHAT_TOPIC_PREFIX=p", "HOME=/root", "PATH=/bin"}; !slices.Equal(got, want) {
		t.Fatalf("%v", got)
	}
}

func TestStatusCounts(t *testing.T) {
	if got := statusCounts(map[int]int{503: 2, 0: 1, 201: 5}); got != "no-answer×1 201×5 503×2" {
		t.Fatal(got)
	}
	if statusCounts(nil) != "none" {
		t.Fatal("empty")
	}
}

func TestValidate(t *testing.T) {
	good := Config{Bin: "x", Size: Sizes["small"], Brokers: []string{"b"}, ClusterBrokers: []string{"c1"}, PGURL: "p", CHAddr: "c"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	single := good
	single.ClusterBrokers, single.Skip = nil, []string{"leader-kill", "leader-stop", "txn-coordinator-kill", "group-coordinator-kill", "broker-rolling-restart"}
	if err := single.Validate(); err != nil {
		t.Fatalf("single-broker scenarios without the cluster: %v", err)
	}
	onCluster := good
	onCluster.ClusterBrokers, onCluster.Scenarios = nil, []string{"baseline", "leader-kill"}
	if err := onCluster.Validate(); err == nil || !strings.Contains(err.Error(), "KAFKA_CLUSTER_BROKERS") {
		t.Fatalf("a cluster scenario without the cluster: %v", err)
	}
	bad := good
	bad.Scenarios = []string{"baseline", "nope"}
	bad.Brokers = nil
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "KAFKA_BROKERS") {
		t.Fatalf("%v", err)
	}
}
