package bench

import (
	"testing"
	"time"
)

func TestScanFrame(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		ok    bool
		check func(t *testing.T, f *scanned)
	}{
		{
			name: "message",
			in: `{"type":"message","message":{"id":"1","room_id":"2","user_id":"3","nickname":"n","body":"a \"seq\":9 {x}",` +
				`"sent_at":"2026-12-03T02:35:15.123Z","client_msg_id":"abc","effects":[],"seq":41}}`,
			ok: true,
			check: func(t *testing.T, f *scanned) {
				if string(f.typ) != "message" || f.msgSeq != 41 || string(f.msgCMID) != "abc" || string(f.sentAt) != "2026-12-03T02:35:15.123Z" {
					t.Fatalf("%+v", f)
				}
			},
		},
		{
			name: "ack: the message's fields are not the frame's",
			in:   `{"type":"ack","client_msg_id":"c1","message":{"seq":7,"client_msg_id":"c1"}}`,
			ok:   true,
			check: func(t *testing.T, f *scanned) {
				if string(f.typ) != "ack" || string(f.cmid) != "c1" || f.seq != 0 || f.msgSeq != 0 {
					t.Fatalf("%+v", f)
				}
			},
		},
		{
			name: "member_joined",
			in:   `{"type":"member_joined","room_id":"2","user_id":"3","nickname":"n","seq":5}`,
			ok:   true,
			check: func(t *testing.T, f *scanned) {
				if string(f.typ) != "member_joined" || f.seq != 5 {
					t.Fatalf("%+v", f)
				}
			},
		},
		{name: "truncated", in: `{"type":"message","message":{"seq":4`, ok: false},
		{name: "not an object", in: `["type","message"]`, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f scanned
			if got := scanFrame([]byte(tt.in), &f); got != tt.ok {
				t.Fatalf("ok %v, want %v", got, tt.ok)
			}
			if tt.check != nil {
				tt.check(t, &f)
			}
		})
	}
}

func TestParseWireTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-12-03T02:35:15.123Z", time.Date(2026, 12, 3, 2, 35, 15, 123e6, time.UTC), true},
		{"2026-12-03T03:35:15.123+01:00", time.Date(2026, 12, 3, 2, 35, 15, 123e6, time.UTC), true},
		{"2026-12-03T02:35:1x.123Z", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseWireTime([]byte(tt.in))
			if ok != tt.ok || (ok && got != tt.want.UnixNano()) {
				t.Fatalf("%d %v, want %d %v", got, ok, tt.want.UnixNano(), tt.ok)
			}
		})
	}
}

func TestRunTagRoundTrip(t *testing.T) {
	tag, err := newRunTag()
	if err != nil {
		t.Fatal(err)
	}
	other, err := newRunTag()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int64{0, 1, 255, 1 << 40} {
		id := tag.appendID(nil, k)
		if len(id) != 36 || id[14] != '4' {
			t.Fatalf("id %s is not UUID-shaped", id)
		}
		if got := tag.index(id); got != k {
			t.Fatalf("index(%s) = %d, want %d", id, got, k)
		}
		if got := other.index(id); got != -1 {
			t.Fatalf("another run's tag read %s as %d", id, got)
		}
	}
	if got := tag.index([]byte("not-ours")); got != -1 {
		t.Fatalf("got %d", got)
	}
}

// TestLedgerReceive: each member's delivery is counted once; a second one
// is a duplicate; members beyond 64 use the next word.
func TestLedgerReceive(t *testing.T) {
	l := newLedger(newSchedule(time.Now(), 10, time.Second), 70)
	if !l.receive(3, 0) || !l.receive(3, 69) || l.receive(3, 69) {
		t.Fatal("first deliveries refused or a duplicate accepted")
	}
	if l.received(3) != 2 || !l.has(3, 69) || l.has(3, 1) || l.received(2) != 0 || l.received(4) != 0 {
		t.Fatalf("received %d", l.received(3))
	}
	l.state[5].Store(stWritten)
	if !l.settle(5, stAcked) || l.settle(5, stRefused) || l.state[5].Load() != stAcked {
		t.Fatal("an ack was not final")
	}
}
