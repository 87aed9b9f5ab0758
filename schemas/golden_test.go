package schemas

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func goldenPath(typ string, version int) string {
	return filepath.Join("testdata", JSONSchemaName(typ, version))
}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

// eventSchemas compiles every embedded JSON Schema once, keyed by file name.
func eventSchemas(t testing.TB) map[string]*jsonschema.Schema {
	t.Helper()
	compileOnce.Do(func() { compiled, compileErr = compileSchemas() })
	if compileErr != nil {
		t.Fatal(compileErr)
	}
	return compiled
}

func compileSchemas() (map[string]*jsonschema.Schema, error) {
	fsys := JSONSchemas()
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource("mem:///"+name, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range names {
		s, err := c.Compile("mem:///" + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// validateEncoded checks encoded envelope data against the schema of its type
// and version.
func validateEncoded(t testing.TB, data []byte, typ string, version int) error {
	t.Helper()
	name := JSONSchemaName(typ, version)
	s, ok := eventSchemas(t)[name]
	if !ok {
		return fmt.Errorf("no JSON Schema %s", name)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("instance: %w", err)
	}
	return s.Validate(inst)
}

func TestGolden(t *testing.T) {
	for typ, env := range samples() {
		t.Run(typ, func(t *testing.T) {
			got, err := Events.Encode(env)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			path := goldenPath(typ, env.Version)
			if *update {
				// Goldens end with a newline for the sake of diffs; it is
				// insignificant whitespace to Decode.
				if err := os.WriteFile(path, append(bytes.Clone(got), '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test ./schemas -run TestGolden -update): %v", err)
			}
			if want := bytes.TrimSuffix(golden, []byte("\n")); !bytes.Equal(got, want) {
				t.Errorf("Encode differs from %s:\n got %s\nwant %s", path, got, want)
			}
			if err := validateEncoded(t, golden, typ, env.Version); err != nil {
				t.Errorf("golden does not validate against its JSON Schema: %v", err)
			}
			dec, err := Events.Decode(golden)
			if err != nil {
				t.Fatalf("Decode(golden): %v", err)
			}
			if !sameEnvelope(dec, env) {
				t.Errorf("Decode(golden) = %+v, want %+v", dec, env)
			}
		})
	}
}

var schemaFileName = regexp.MustCompile(`^([a-z]+(?:\.[a-z_]+)+)\.v([1-9][0-9]*)\.json$`)

// TestEveryTypeHasSchemaAndGolden fails when an event type or version is
// added to the registry without its JSON Schema, sample and golden, or when a
// schema names a type or version the registry does not know.
func TestEveryTypeHasSchemaAndGolden(t *testing.T) {
	fsys := JSONSchemas()
	sm := samples()
	types := Events.Types()
	slices.Sort(types)
	if len(types) == 0 {
		t.Fatal("registry is empty")
	}
	for _, typ := range types {
		cur := Events.Version(typ)
		for v := 1; v <= cur; v++ {
			if _, err := fs.Stat(fsys, JSONSchemaName(typ, v)); err != nil {
				t.Errorf("%s v%d: no JSON Schema jsonschema/%s", typ, v, JSONSchemaName(typ, v))
			}
		}
		if _, ok := sm[typ]; !ok {
			t.Errorf("%s: no sample envelope in samples_test.go", typ)
		}
		if _, err := os.Stat(goldenPath(typ, cur)); err != nil {
			t.Errorf("%s v%d: no golden %s", typ, cur, goldenPath(typ, cur))
		}
	}
	names, err := fs.Glob(fsys, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		m := schemaFileName.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("jsonschema/%s: not named <type>.v<N>.json", name)
			continue
		}
		v, _ := strconv.Atoi(m[2])
		if cur := Events.Version(m[1]); cur == 0 || v > cur {
			t.Errorf("jsonschema/%s: the registry has no %s v%d", name, m[1], v)
		}
	}
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		m := schemaFileName.FindStringSubmatch(filepath.Base(g))
		if m == nil || Events.Version(m[1]) == 0 || m[2] != strconv.Itoa(Events.Version(m[1])) {
			t.Errorf("%s: stale golden (no such current type and version)", g)
		}
	}
}

// TestSchemasDescribeTheirType checks each schema's identity and that it is
// closed: the envelope and the payload refuse unknown members.
func TestSchemasDescribeTheirType(t *testing.T) {
	fsys := JSONSchemas()
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var doc struct {
				Schema               string `json:"$schema"`
				Title                string `json:"title"`
				AdditionalProperties *bool  `json:"additionalProperties"`
				Properties           struct {
					Type struct {
						Const string `json:"const"`
					} `json:"type"`
					Version struct {
						Const int `json:"const"`
					} `json:"version"`
					Payload struct {
						AdditionalProperties *bool `json:"additionalProperties"`
					} `json:"payload"`
				} `json:"properties"`
			}
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			if err := stdjson.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			m := schemaFileName.FindStringSubmatch(name)
			if m == nil {
				t.Fatalf("bad file name")
			}
			if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %q, want draft 2020-12", doc.Schema)
			}
			if doc.Properties.Type.Const != m[1] || strconv.Itoa(doc.Properties.Version.Const) != m[2] {
				t.Errorf("type/version consts %q/%d do not match the file name", doc.Properties.Type.Const, doc.Properties.Version.Const)
			}
			if doc.AdditionalProperties == nil || *doc.AdditionalProperties {
				t.Error("envelope must have additionalProperties: false")
			}
			if doc.Properties.Payload.AdditionalProperties == nil || *doc.Properties.Payload.AdditionalProperties {
				t.Error("payload must have additionalProperties: false")
			}
			if !strings.HasPrefix(doc.Title, m[1]+" v") {
				t.Errorf("title %q does not name the type", doc.Title)
			}
		})
	}
}

// TestSchemasRejectBadRecords makes sure the schemas have teeth: each hostile
// variant of a golden must fail validation.
func TestSchemasRejectBadRecords(t *testing.T) {
	// A plaintext message.sent v3 (the golden is sealed): the text rules.
	plain := samples()[TypeMessageSent]
	p := plain.Payload.(MessageSent)
	p.Sealed, p.Text = nil, "안녕하세요 👋🏽"
	p.ReplyTo = &ReplyTo{MessageID: p.ReplyTo.MessageID, UserID: p.ReplyTo.UserID, Nickname: p.ReplyTo.Nickname, Preview: "who?"}
	plain.Payload = p
	msg, err := Events.Encode(plain)
	if err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadFile(goldenPath(TypeRoomLeft, 1))
	if err != nil {
		t.Fatal(err)
	}
	user, err := os.ReadFile(goldenPath(TypeUserRegistered, 1))
	if err != nil {
		t.Fatal(err)
	}
	sub := func(b []byte, old, new string) []byte {
		t.Helper()
		if !bytes.Contains(b, []byte(old)) {
			t.Fatalf("golden lacks %s", old)
		}
		return bytes.Replace(b, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		typ  string
		data []byte
	}{
		{"unknown envelope member", TypeMessageSent, sub(msg, `"seq":3`, `"seq":3,"extra":1`)},
		{"unknown payload member", TypeMessageSent, sub(msg, `"nickname":"toracle 🐱",`, `"nickname":"toracle 🐱","x":1,`)},
		{"unknown reply member", TypeMessageSent, sub(msg, `"nickname":"nemo"`, `"nickname":"nemo","x":1`)},
		{"mention as number", TypeMessageSent, sub(msg, `"mentions":["1995793265123459073"]`, `"mentions":[1995793265123459073]`)},
		{"id as number", TypeMessageSent, sub(msg, `"id":"1995793265136041984"`, `"id":1995793265136041984`)},
		{"id with leading zero", TypeMessageSent, sub(msg, `"id":"1995793265136041984"`, `"id":"01"`)},
		{"seq as string", TypeMessageSent, sub(msg, `"seq":3`, `"seq":"3"`)},
		{"seq zero", TypeMessageSent, sub(msg, `"seq":3`, `"seq":0`)},
		{"wrong version", TypeMessageSent, sub(msg, `"version":3`, `"version":4`)},
		{"text and sealed", TypeMessageSent, sub(msg, `"text":"안녕하세요`, `"sealed":{"key_id":"k","ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"text":"안녕하세요`)},
		{"neither text nor sealed", TypeMessageSent, sub(msg, `"text":"안녕하세요 👋🏽",`, ``)},
		{"preview and preview_sealed", TypeMessageSent, sub(msg, `"preview":"who?"`, `"preview":"who?","preview_sealed":{"key_id":"k","ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)},
		{"wrong type", TypeMessageSent, sub(msg, `"type":"message.sent"`, `"type":"message.pinned"`)},
		{"time with offset", TypeMessageSent, sub(msg, `21:21:13.123Z`, `21:21:13.123+09:00`)},
		{"empty text", TypeMessageSent, sub(msg, `"text":"안녕하세요`, `"text":"","x":"`)},
		{"NUL in text", TypeMessageSent, sub(msg, `"text":"안녕하세요`, `"text":"\u0000`)},
		{"missing room", TypeMessageSent, sub(msg, `"room_id":"1995793265127653376",`, ``)},
		{"bad reason", TypeRoomLeft, sub(left, `"reason":"switched"`, `"reason":"kicked"`)},
		{"switched without switched_to", TypeRoomLeft, sub(left, `"switched_to":"1995793265127653377",`, ``)},
		{"seq on user event", TypeUserRegistered, sub(user, `"user_id"`, `"seq":1,"user_id"`)},
		{"room on user.registered", TypeUserRegistered, sub(user, `"user_id"`, `"room_id":"5","user_id"`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := validateEncoded(t, c.data, c.typ, Events.Version(c.typ)); err == nil {
				t.Errorf("schema accepted %s", c.data)
			}
			if _, err := Events.Decode(c.data); err == nil && c.name != "time with offset" {
				t.Errorf("Decode accepted what the schema refuses: %s", c.data)
			}
		})
	}
}
