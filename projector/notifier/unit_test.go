package notifier

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"happychat/internal/clientjson"
	"happychat/schemas"
)

func TestDecide(t *testing.T) {
	rs := []recipient{
		{user: 2}, {user: 3, muted: true}, {user: 4, watermark: 10}, {user: 5, muted: true}, {user: 6, watermark: 9},
	}
	for _, tc := range []struct {
		name string
		m    message
		want []schemas.ID
	}{
		{"the sender and a muter are passed over; a watermark at the seq stops it", message{sender: 1, seq: 10}, []schemas.ID{2, 6}},
		{"a mention reaches a muter", message{sender: 1, seq: 11, mentions: []schemas.ID{5}}, []schemas.ID{2, 4, 5, 6}},
		{"the sender among the recipients is never pushed", message{sender: 2, seq: 11}, []schemas.ID{4, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.m, rs); !slices.Equal(got, tc.want) {
				t.Fatalf("decide = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCoalescer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := newCoalescer(3 * time.Second)
	for i := range 20 {
		c.add(7, message{room: 1, seq: int64(i + 1), text: "m"}, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	c.add(7, message{room: 1, seq: 5}, t0.Add(2*time.Second)) // a redelivery: not counted
	c.add(7, message{room: 2, seq: 1, mentions: []schemas.ID{7}}, t0.Add(time.Second))
	c.add(8, message{room: 1, seq: 3}, t0.Add(2*time.Second))
	if got := c.due(t0.Add(2999 * time.Millisecond)); len(got) != 0 {
		t.Fatalf("due before the window closed: %v", got)
	}
	got := c.due(t0.Add(3 * time.Second))
	if len(got) != 1 || got[0].user != 7 || got[0].room != 1 || got[0].count != 20 || got[0].latest.seq != 20 || got[0].mention {
		t.Fatalf("at 3s: %+v, want one push of user 7 room 1 with count 20, latest seq 20", got)
	}
	got = c.due(t0.Add(5 * time.Second))
	if len(got) != 2 || got[0].user != 7 || got[0].room != 2 || !got[0].mention || got[1].user != 8 || got[1].count != 1 {
		t.Fatalf("at 5s: %+v, want user 7 room 2 (a mention), then user 8", got)
	}
	if c.len() != 0 {
		t.Fatalf("%d left", c.len())
	}
	// A message after the window opens a new one.
	c.add(7, message{room: 1, seq: 21}, t0.Add(6*time.Second))
	if got := c.due(t0.Add(9 * time.Second)); len(got) != 1 || got[0].count != 1 {
		t.Fatalf("a new window: %+v", got)
	}
}

func newKeys(t *testing.T) (p256dh, auth string) {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := make([]byte, 16)
	_, _ = rand.Read(a)
	return base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(a)
}

func TestSubscriptionValidate(t *testing.T) {
	p, a := newKeys(t)
	sub := func(endpoint, p256dh, auth string) Subscription {
		var s Subscription
		s.Endpoint, s.Keys.P256dh, s.Keys.Auth = endpoint, p256dh, auth
		return s
	}
	offCurve := base64.RawURLEncoding.EncodeToString(append([]byte{4}, make([]byte, 64)...))
	for _, tc := range []struct {
		name     string
		s        Subscription
		loopback bool
		want     string // "" accepted, else a part of the refusal
	}{
		{"a push service's https endpoint", sub("https://fcm.googleapis.com/fcm/send/abc", p, a), false, ""},
		{"padded base64url keys", sub("https://push.example/x", p+"=", a+"=="), false, ""},
		{"loopback http when allowed", sub("http://127.0.0.1:4000/push/1", p, a), true, ""},
		{"loopback when not allowed", sub("http://127.0.0.1:4000/push/1", p, a), false, `"endpoint" must not be a loopback`},
		{"plain http", sub("http://push.example/x", p, a), true, `"endpoint" must be an https URL`},
		{"a private address", sub("https://10.1.2.3/x", p, a), true, "private or reserved"},
		{"link-local metadata address", sub("https://169.254.169.254/latest", p, a), true, "private or reserved"},
		{"credentials in the URL", sub("https://u:p@push.example/x", p, a), false, "credentials"},
		{"not a URL", sub("push.example", p, a), false, "absolute https URL"},
		{"no endpoint", sub("", p, a), false, `"endpoint" is required`},
		{"a long endpoint", sub("https://push.example/"+strings.Repeat("a", 2100), p, a), false, "at most 2048 bytes"},
		{"p256dh not base64url", sub("https://push.example/x", "!!"+p[2:], a), false, `"keys.p256dh" must be base64url`},
		{"p256dh too short", sub("https://push.example/x", p[:40], a), false, `"keys.p256dh" must be 65 bytes`},
		{"p256dh oversized", sub("https://push.example/x", strings.Repeat("A", 5000), a), false, `"keys.p256dh" must be 65 bytes`},
		{"p256dh off the curve", sub("https://push.example/x", offCurve, a), false, "P-256 curve"},
		{"auth of 12 bytes", sub("https://push.example/x", p, a[:16]), false, `"keys.auth" must be 16 bytes`},
		{"no auth", sub("https://push.example/x", p, ""), false, `"keys.auth" is required`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.validate(tc.loopback)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "" && (strings.Contains(got.Keys.P256dh, "=") || got.Keys.P256dh != p):
				t.Fatalf("keys not canonical: %+v", got.Keys)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a refusal with %q", err, tc.want)
			case tc.want != "" && schemas.AsError(err).Code != schemas.CodeBadRequest:
				t.Fatalf("code %s, want bad_request", schemas.AsError(err).Code)
			}
		})
	}
}

func TestCheckVAPID(t *testing.T) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	priv2, _, _ := webpush.GenerateVAPIDKeys()
	if err := checkVAPID(pub, priv); err != nil {
		t.Fatalf("a generated pair refused: %v", err)
	}
	for _, bad := range [][2]string{{pub, priv2}, {"", priv}, {pub, ""}, {priv, pub}} {
		if checkVAPID(bad[0], bad[1]) == nil {
			t.Errorf("checkVAPID(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestPayloadPreview(t *testing.T) {
	long := strings.Repeat("가", 500)
	p := payloadOf(pending{key: key{user: 1, room: 2}, count: 3, latest: message{text: long, seq: 4}})
	if n := len([]rune(p.Text)); n != maxPreviewRunes || !strings.HasSuffix(p.Text, "…") || p.Count != 3 || p.RoomID != 2 {
		t.Fatalf("payload %+v (%d runes)", p, n)
	}
}

func TestCheckEndpointToDelete(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"https://push.example/x", true},
		{"", false},
		{"https://push.example/\x00", false},
		{"\u0086c\u00e5u\x00\f", false},
		{"https://push.example/" + strings.Repeat("a", 2048), false},
	} {
		if err := checkEndpointToDelete(tc.endpoint); (err == nil) != tc.ok {
			t.Errorf("checkEndpointToDelete(%q) = %v, want ok %v", tc.endpoint, err, tc.ok)
		}
	}
}

// TestSubscriptionDecodes: what browsers send decodes, expirationTime as
// null, an integer, or an integer written with a fraction (schemathesis).
func TestSubscriptionDecodes(t *testing.T) {
	for _, exp := range []string{"null", "99", "99.0", "1700000000000"} {
		var s Subscription
		body := `{"endpoint":"https://push.example/x","expirationTime":` + exp + `,"keys":{"p256dh":"a","auth":"b"}}`
		if err := clientjson.Decode("body", []byte(body), &s); err != nil {
			t.Errorf("expirationTime %s: %v", exp, err)
		}
	}
}
