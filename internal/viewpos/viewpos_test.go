package viewpos

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

func TestFromRecordsIsTheOffsetAfterTheLast(t *testing.T) {
	p := FromRecords([]*kgo.Record{
		{Topic: "hc.rooms", Partition: 4, Offset: 209},
		{Topic: "hc.rooms", Partition: 4, Offset: 207},
		{Topic: "hc.rooms", Partition: 1, Offset: 0},
		{Topic: "hc.users", Partition: 2, Offset: 32},
	})
	if got, want := p.String(), "hc.rooms:1:1,hc.rooms:4:210,hc.users:2:33"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	back, err := Parse(p.String())
	if err != nil || back.String() != p.String() {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func TestMergeKeepsTheHigherOffset(t *testing.T) {
	a, _ := Parse("r:1:5,r:2:9")
	b, _ := Parse("r:1:7,r:2:3,u:0:1")
	a.Merge(b)
	if got, want := a.String(), "r:1:7,r:2:9,u:0:1"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	// The same topic and partition twice in one value: the higher wins.
	c, err := Parse("r:1:7,r:1:3")
	if err != nil || c.String() != "r:1:7" {
		t.Fatalf("%v %v", c, err)
	}
}

func TestParseRefusesWhatNoAnswerCarried(t *testing.T) {
	for _, tc := range []struct{ in, rule string }{
		{"", "topic:partition:offset"},
		{"rooms:1", "topic:partition:offset"},
		{":1:2", "topic:partition:offset"},
		{"ro oms:1:2", "topic:partition:offset"},
		{"rooms:x:2", "non-negative integers"},
		{"rooms:1:-2", "non-negative integers"},
		{"rooms:99999999999:2", "non-negative integers"},
		{"rooms:1:2,", "topic:partition:offset"},
		{strings.Repeat("r:1:1,", 256) + "r:1:1", "at most 256 entries"},
		{strings.Repeat("r", 17000) + ":1:1", "at most 16384 bytes"},
	} {
		_, err := Parse(tc.in)
		e := schemas.AsError(err)
		if err == nil || e.Code != schemas.CodeBadRequest || !strings.Contains(e.Message, Header) || !strings.Contains(e.Message, tc.rule) {
			t.Errorf("Parse(%.40q) = %v, want a 400 naming %s and %q", tc.in, err, Header, tc.rule)
		}
	}
}

func TestRecorderCollectsARequestsCommands(t *testing.T) {
	Note(context.Background(), Position{{"r", 1}: 3}) // no recorder: nothing happens
	ctx, rec := WithRecorder(context.Background())
	if rec.String() != "" {
		t.Fatal("a new recorder holds a position")
	}
	Note(ctx, Position{{"r", 1}: 3})
	Note(ctx, Position{{"r", 1}: 2, {"r", 0}: 8})
	if got, want := rec.String(), "r:0:8,r:1:3"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
