package schemas

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// messageSentV2 is a hypothetical next version of message.sent: it adds the
// text's format, which v1 records did not carry and which defaults to "plain".
type messageSentV2 struct {
	Text        string `json:"text"`
	ClientMsgID string `json:"client_msg_id"`
	Nickname    string `json:"nickname"`
	Format      string `json:"format"`
}

func (messageSentV2) EventType() string { return TypeMessageSent }

// upcastHypotheticalV1 adds format "plain" to a v1 payload. It decodes the v1
// shape strictly, so that a v1 record with a member v1 never had is refused
// rather than smuggled into v2.
func upcastHypotheticalV1(v jsontext.Value) (jsontext.Value, error) {
	var p1 MessageSent
	if err := StrictUnmarshal(v, &p1); err != nil {
		return nil, err
	}
	return json.Marshal(messageSentV2{Text: p1.Text, ClientMsgID: p1.ClientMsgID, Nickname: p1.Nickname, Format: "plain"})
}

func testRegistryV2() *Registry {
	r := &Registry{}
	Define[messageSentV2](r, 2, ScopeRoom, func(e Envelope) error {
		if e.Payload.(messageSentV2).Format == "" {
			return errors.New("format is required")
		}
		return needUser(e)
	})
	r.AddUpcaster(TypeMessageSent, 1, upcastHypotheticalV1)
	return r
}

func TestUpcast(t *testing.T) {
	r := testRegistryV2()
	v2rec := strings.Replace(strings.Replace(strictBase, `"version":1`, `"version":2`, 1),
		`"nickname":"n"}`, `"nickname":"n","format":"markdown"}`, 1)
	cases := []struct {
		name    string
		in      string
		want    messageSentV2
		wantErr string
	}{
		{"v1 record upcast with default", strictBase, messageSentV2{Text: "hi", ClientMsgID: "c1", Nickname: "n", Format: "plain"}, ""},
		{"v2 record as is", v2rec, messageSentV2{Text: "hi", ClientMsgID: "c1", Nickname: "n", Format: "markdown"}, ""},
		{"v1 record with a v2 member", strings.Replace(strictBase, `"nickname":"n"}`, `"nickname":"n","format":"x"}`, 1), messageSentV2{}, "upcast message.sent v1"},
		{"v3 record", strings.Replace(strictBase, `"version":1`, `"version":3`, 1), messageSentV2{}, "unknown event version"},
		{"v2 record missing its new field", strings.Replace(strictBase, `"version":1`, `"version":2`, 1), messageSentV2{}, "format is required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := r.Decode([]byte(c.in))
			if c.wantErr != "" {
				if err == nil || !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Decode error = %v, want one wrapping ErrDecode mentioning %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.Version != 2 || env.Type != TypeMessageSent {
				t.Errorf("decoded as %s v%d, want message.sent v2", env.Type, env.Version)
			}
			if got := env.Payload.(messageSentV2); got != c.want {
				t.Errorf("payload = %+v, want %+v", got, c.want)
			}
			// Re-encoding writes the current version only.
			b, err := r.Encode(env)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"version":2`) || !strings.Contains(string(b), `"format":"`+c.want.Format+`"`) {
				t.Errorf("re-encoded as %s", b)
			}
		})
	}
}

func TestUpcastMissingOrFailing(t *testing.T) {
	noUp := &Registry{}
	Define[messageSentV2](noUp, 2, ScopeRoom, nil)
	if _, err := noUp.Decode([]byte(strictBase)); err == nil || !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "no upcaster") {
		t.Errorf("without an upcaster: %v", err)
	}

	boom := errors.New("boom")
	failing := &Registry{}
	Define[messageSentV2](failing, 2, ScopeRoom, nil)
	failing.AddUpcaster(TypeMessageSent, 1, func(jsontext.Value) (jsontext.Value, error) { return nil, boom })
	if _, err := failing.Decode([]byte(strictBase)); !errors.Is(err, ErrDecode) || !errors.Is(err, boom) {
		t.Errorf("failing upcaster: %v, want it to wrap ErrDecode and the cause", err)
	}

	// An upcaster that produces something that is not an object is caught.
	bad := &Registry{}
	Define[messageSentV2](bad, 2, ScopeRoom, nil)
	bad.AddUpcaster(TypeMessageSent, 1, func(jsontext.Value) (jsontext.Value, error) { return jsontext.Value(`[]`), nil })
	if _, err := bad.Decode([]byte(strictBase)); !errors.Is(err, ErrDecode) {
		t.Errorf("upcaster returning an array: %v", err)
	}
}

// TestUpcastChain runs two upcasters in a row (v1 → v2 → v3).
func TestUpcastChain(t *testing.T) {
	r := &Registry{}
	Define[messageSentV3](r, 3, ScopeRoom, nil)
	r.AddUpcaster(TypeMessageSent, 1, upcastHypotheticalV1)
	r.AddUpcaster(TypeMessageSent, 2, func(v jsontext.Value) (jsontext.Value, error) {
		var p2 messageSentV2
		if err := StrictUnmarshal(v, &p2); err != nil {
			return nil, err
		}
		return json.Marshal(messageSentV3{Body: p2.Text, ClientMsgID: p2.ClientMsgID, Nickname: p2.Nickname, Format: p2.Format})
	})
	env, err := r.Decode([]byte(strictBase))
	if err != nil {
		t.Fatal(err)
	}
	want := messageSentV3{Body: "hi", ClientMsgID: "c1", Nickname: "n", Format: "plain"}
	if env.Version != 3 || env.Payload.(messageSentV3) != want {
		t.Errorf("got v%d %+v, want v3 %+v", env.Version, env.Payload, want)
	}
}

// messageSentV3 renames text to body (a rename needs a new version).
type messageSentV3 struct {
	Body        string `json:"body"`
	ClientMsgID string `json:"client_msg_id"`
	Nickname    string `json:"nickname"`
	Format      string `json:"format"`
}

func (messageSentV3) EventType() string { return TypeMessageSent }
