package web

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestLinkify runs js/links.js under Node with a minimal DOM (elements as
// plain objects): which parts of a message become links, to where, and
// that the parts' text is the message unchanged. Pure logic: skipped where
// Node is not installed.
func TestLinkify(t *testing.T) {
	node, abs := nodeModule(t, "links.js")
	cases := []struct {
		name, text string
		want       []string // the parts: "text" or "<href>" for a link
	}{
		{"plain text", "hello 안녕", []string{"hello 안녕"}},
		{"a link in a sentence", "see https://example.com/a?b=1#c. ok", []string{"see ", "<https://example.com/a?b=1#c>", ". ok"}},
		{"balanced parenthesis kept", "(https://en.wikipedia.org/wiki/Cat_(animal))", []string{"(", "<https://en.wikipedia.org/wiki/Cat_(animal)>", ")"}},
		{"http too", "http://x.test", []string{"<http://x.test/>"}},
		{"javascript is text", "javascript:alert(1)", []string{"javascript:alert(1)"}},
		{"data is text", "data:text/html,<script>x</script>", []string{"data:text/html,<script>x</script>"}},
		{"quotes end a link", `"https://a.test/x"<b>`, []string{`"`, "<https://a.test/x>", `"<b>`}},
		{"Korean punctuation", "여기요https://a.test/한글。", []string{"여기요", "<https://a.test/%ED%95%9C%EA%B8%80>", "。"}},
		{"no host", "https:// nothing", []string{"https:// nothing"}},
		{"two links", "https://a.test https://b.test", []string{"<https://a.test/>", " ", "<https://b.test/>"}},
	}
	texts := make([]string, len(cases))
	for i, c := range cases {
		texts[i] = c.text
	}
	in, _ := json.Marshal(texts)
	script := `
globalThis.document = { createElement: (tag) => ({ tag, attrs: {}, kids: [], setAttribute(k, v) { this.attrs[k] = v; }, append(...k) { this.kids.push(...k); } }),
  createTextNode: (s) => ({ text: s }) };
globalThis.Node = class {};
const { linkify } = await import(` + jsonString(abs) + `);
const out = ` + string(in) + `.map((text) => linkify(text).map((p) => {
  if (typeof p === "string") return p;
  if (p.attrs.rel !== "noopener noreferrer" || p.attrs.target !== "_blank" || p.tag !== "a") return "BAD " + JSON.stringify(p.attrs);
  return "<" + p.attrs.href + ">";
}));
const joined = ` + string(in) + `.map((text) => linkify(text).map((p) => typeof p === "string" ? p : p.kids.map((k) => k.text).join("")).join(""));
console.log(JSON.stringify({ out, joined }));`
	cmd := exec.CommandContext(t.Context(), node, "--input-type=module", "-e", script)
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, b)
	}
	var res struct {
		Out    [][]string `json:"out"`
		Joined []string   `json:"joined"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("node printed %q: %v", b, err)
	}
	for i, c := range cases {
		if got := res.Out[i]; !slices.Equal(got, c.want) {
			t.Errorf("%s: parts %q, want %q", c.name, got, c.want)
		}
		if res.Joined[i] != c.text {
			t.Errorf("%s: the parts read %q, not the message", c.name, res.Joined[i])
		}
	}
}

// nodeModule returns Node's path and the absolute path of static/js/file,
// or skips the test where Node is not installed (the browser tests cover
// the module then).
func nodeModule(t *testing.T, file string) (node, abs string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node not installed: js/%s is covered by the browser tests only", file)
	}
	abs, err = filepath.Abs(filepath.Join("static/js", file))
	if err != nil {
		t.Fatal(err)
	}
	return node, abs
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
