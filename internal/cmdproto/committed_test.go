package cmdproto

import (
	"bytes"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCommittedHeaderRoundTrip(t *testing.T) {
	recs := []*kgo.Record{
		{Partition: 3, Offset: 17, Key: []byte("2128507607829192704"), Value: []byte(`{"type":"message.sent","v":2}`)},
		{Partition: 0, Offset: 0, Key: []byte("1"), Value: []byte{0, 1, 2, 0xff}},
	}
	got, err := DecodeRecords(EncodeRecords(recs))
	if err != nil || len(got) != len(recs) {
		t.Fatalf("decode: %v %v", got, err)
	}
	for i, want := range recs {
		g := got[i]
		if g.Partition != want.Partition || g.Offset != want.Offset || !bytes.Equal(g.Key, want.Key) || !bytes.Equal(g.Value, want.Value) {
			t.Fatalf("record %d: got %+v, want %+v", i, g, want)
		}
	}
	if r, err := DecodeRecords(""); err != nil || r != nil {
		t.Fatalf("empty: %v %v", r, err)
	}
	one := EncodeRecords(recs[:1])
	tooMany := strings.Repeat(one+",", maxCommittedRecords) + one
	for _, bad := range []string{"x", "1:2:AA", "-1:2:MQ:MQ", "1:-2:MQ:MQ", "a:2:MQ:MQ", "1:b:MQ:MQ", "1:2::MQ", "1:2:MQ:", "1:2:!!:MQ", "1:2:MQ:!!", tooMany} {
		if _, err := DecodeRecords(bad); err == nil {
			t.Errorf("DecodeRecords(%.40q) accepted", bad)
		}
	}
	if _, err := DecodeRecords(strings.Repeat(one+",", maxCommittedRecords-1) + one); err != nil {
		t.Errorf("%d records refused: %v", maxCommittedRecords, err)
	}
}
