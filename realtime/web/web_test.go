package web

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func serve(t *testing.T, method, path string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func staticFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, "static"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readStatic(t *testing.T, p string) string {
	t.Helper()
	b, err := static.ReadFile("static" + p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestContentTypes(t *testing.T) {
	tests := []struct {
		path, ctype string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/index.html", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/js/views/room.js", "text/javascript; charset=utf-8"},
		{"/sw.js", "text/javascript; charset=utf-8"},
		{"/styles.css", "text/css; charset=utf-8"},
		{"/manifest.webmanifest", "application/manifest+json; charset=utf-8"},
		{"/icons/icon.svg", "image/svg+xml"},
		{"/icons/icon-192.png", "image/png"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := serve(t, http.MethodGet, tt.path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
				t.Error("no Content-Security-Policy")
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}

func TestEveryFileIsServed(t *testing.T) {
	for _, p := range staticFiles(t) {
		rec := serve(t, http.MethodGet, p, nil)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%s: status %d, %d bytes", p, rec.Code, rec.Body.Len())
		}
	}
}

func TestCacheControl(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		// The service worker and the shell must be revalidated, or an
		// update would wait for a cache to expire.
		{"/sw.js", "no-cache"},
		{"/", "no-cache"},
		{"/rooms/123", "no-cache"},
		{"/app.js", "no-cache"},
		{"/icons/icon-512.png", "public, max-age=86400"},
		{"/v1/nope", "no-store"},
	}
	for _, tt := range tests {
		if got := serve(t, http.MethodGet, tt.path, nil).Header().Get("Cache-Control"); got != tt.want {
			t.Errorf("%s: Cache-Control %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestAppRoutesAnswerIndex(t *testing.T) {
	index := readStatic(t, "/index.html")
	tests := []struct {
		name, method, path string
		wantIndex          bool
	}{
		{"root", "GET", "/", true},
		{"room", "GET", "/rooms/1897234567890123456", true},
		{"propose", "GET", "/propose", true},
		{"admin", "GET", "/admin", true},
		{"head of a route", "HEAD", "/admin", true},
		{"room id not a number", "GET", "/rooms/abc", false},
		{"room subpath", "GET", "/rooms/123/members", false},
		{"api path", "GET", "/v1/rooms/nope", false},
		{"missing file", "GET", "/missing.js", false},
		{"post to a missing file", "POST", "/missing.js", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, tt.method, tt.path, nil)
			if !tt.wantIndex {
				if rec.Code != http.StatusNotFound {
					t.Fatalf("status %d, want 404", rec.Code)
				}
				var body struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "not_found" {
					t.Fatalf("body %q is not the contract's not_found envelope (%v)", rec.Body.String(), err)
				}
				return
			}
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("status %d, type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			if tt.method == "HEAD" {
				if rec.Body.Len() != 0 {
					t.Fatal("HEAD answered with a body")
				}
				return
			}
			if rec.Body.String() != index {
				t.Fatal("body is not index.html")
			}
		})
	}
}

// A path the app serves, with a method it does not take, is 405 with Allow
// (issue 15.7: schemathesis expects it of every known path); it used to be
// the 404 of an unknown path.
func TestOtherMethodOnAppPath(t *testing.T) {
	for _, tt := range []struct{ method, path string }{
		{"POST", "/"},
		{"TRACE", "/"},
		{"DELETE", "/rooms/1897234567890123456"},
		{"PUT", "/app.js"},
	} {
		rec := serve(t, tt.method, tt.path, nil)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Fatalf("%s %s: status %d, Allow %q; want 405 and GET, HEAD", tt.method, tt.path, rec.Code, rec.Header().Get("Allow"))
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != "method_not_allowed" {
			t.Fatalf("%s %s: body %q is not the method_not_allowed envelope (%v)", tt.method, tt.path, rec.Body.String(), err)
		}
	}
}

func TestServes(t *testing.T) {
	tests := []struct {
		method, path string
		want         bool
	}{
		{"GET", "/", true},
		{"GET", "/styles.css", true},
		{"GET", "/rooms/42", true},
		{"HEAD", "/sw.js", true},
		{"POST", "/", false},
		{"GET", "/v1/rooms", false},
		{"GET", "/healthz", false},
	}
	for _, tt := range tests {
		if got := Serves(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("Serves(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestConditionalAndCompressed(t *testing.T) {
	first := serve(t, http.MethodGet, "/app.js", nil)
	etag := first.Header().Get("ETag")
	if got := serve(t, http.MethodGet, "/app.js", map[string]string{"If-None-Match": etag}); got.Code != http.StatusNotModified || got.Body.Len() != 0 {
		t.Errorf("If-None-Match with the current ETag: status %d, %d bytes; want 304 and no body", got.Code, got.Body.Len())
	}
	if got := serve(t, http.MethodGet, "/app.js", map[string]string{"If-None-Match": `"stale"`}); got.Code != http.StatusOK {
		t.Errorf("If-None-Match with a stale ETag: status %d", got.Code)
	}

	gz := serve(t, http.MethodGet, "/js/views/room.js", map[string]string{"Accept-Encoding": "br, gzip"})
	if gz.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(gz.Header().Get("Vary"), "Accept-Encoding") {
		t.Fatalf("gzip not used: %v", gz.Header())
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != readStatic(t, "/js/views/room.js") {
		t.Fatal("gzip body differs from the file")
	}
	if gz.Header().Get("ETag") == serve(t, http.MethodGet, "/js/views/room.js", nil).Header().Get("ETag") {
		t.Error("the gzip and identity representations share an ETag")
	}
	if refused := serve(t, http.MethodGet, "/js/views/room.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); refused.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent although refused with q=0")
	}
}

// TestServiceWorkerShell checks the rendered sw.js: a version, and a shell
// list naming every file of the app, each of which is served.
func TestServiceWorkerShell(t *testing.T) {
	sw := serve(t, http.MethodGet, "/sw.js", nil).Body.String()
	if strings.Contains(sw, "__HAPPYCHAT_") {
		t.Fatal("sw.js still holds a placeholder")
	}
	if !regexp.MustCompile(`const VERSION = "[0-9a-f]{16}";`).MatchString(sw) {
		t.Fatal("sw.js has no version hash")
	}
	m := regexp.MustCompile(`const SHELL = (\[[^\]]*\]);`).FindStringSubmatch(sw)
	if m == nil {
		t.Fatal("sw.js has no shell list")
	}
	var shell []string
	if err := json.Unmarshal([]byte(m[1]), &shell); err != nil {
		t.Fatal(err)
	}
	for _, p := range staticFiles(t) {
		if p == "/sw.js" || p == "/index.html" {
			continue
		}
		if !slices.Contains(shell, p) {
			t.Errorf("%s is not precached by the service worker", p)
		}
	}
	if !slices.Contains(shell, "/") {
		t.Error("the shell lacks / (what navigations are answered with offline)")
	}
	for _, p := range shell {
		if rec := serve(t, http.MethodGet, p, nil); rec.Code != http.StatusOK {
			t.Errorf("shell entry %s: status %d", p, rec.Code)
		}
	}
}

// TestStrictCSPCompatible keeps the markup free of what the CSP forbids:
// inline scripts, inline handlers and inline styles.
func TestStrictCSPCompatible(t *testing.T) {
	index := readStatic(t, "/index.html")
	for _, m := range regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(index, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script in index.html: %q", m[0])
		}
	}
	if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).MatchString(index) {
		t.Error("inline event handler attribute in index.html")
	}
	if regexp.MustCompile(`(?i)\sstyle\s*=|<style`).MatchString(index) {
		t.Error("inline style in index.html")
	}
	if !strings.Contains(ContentSecurityPolicy, "script-src 'self'") || strings.Contains(ContentSecurityPolicy, "unsafe-") {
		t.Errorf("CSP is not strict: %s", ContentSecurityPolicy)
	}
}

// TestScriptsRenderTextOnly forbids the APIs that parse strings as HTML or
// code: user text must only ever reach the page as Text nodes.
func TestScriptsRenderTextOnly(t *testing.T) {
	forbidden := regexp.MustCompile(`\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|DOMParser`)
	for _, p := range staticFiles(t) {
		if !strings.HasSuffix(p, ".js") {
			continue
		}
		for i, line := range strings.Split(readStatic(t, p), "\n") {
			if forbidden.MatchString(line) {
				t.Errorf("%s:%d: %s", p, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestModuleImportsResolve catches a mistyped module path, which would
// otherwise only show as a blank page.
func TestModuleImportsResolve(t *testing.T) {
	imp := regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"`)
	seen := 0
	defer func() {
		if seen < 20 {
			t.Errorf("found only %d imports: is the pattern still right?", seen)
		}
	}()
	for _, p := range staticFiles(t) {
		if !strings.HasSuffix(p, ".js") {
			continue
		}
		dir := p[:strings.LastIndex(p, "/")+1]
		for _, m := range imp.FindAllStringSubmatch(readStatic(t, p), -1) {
			seen++
			target := resolve(dir, m[1])
			if rec := serve(t, http.MethodGet, target, nil); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
				t.Errorf("%s imports %s (%s): status %d", p, m[1], target, rec.Code)
			}
		}
	}
}

func resolve(dir, rel string) string {
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	if dir == "/" {
		parts = nil
	}
	for _, seg := range strings.Split(rel, "/") {
		switch seg {
		case ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, seg)
		}
	}
	return "/" + strings.Join(parts, "/")
}

// TestTranslations checks that English and Korean have the same keys and
// that every key the scripts use exists. The tables are i18n.js's and those
// a feature adds with addStrings({en: {…}, ko: {…}}) from a module of its own.
func TestTranslations(t *testing.T) {
	src := readStatic(t, "/js/i18n.js")
	keysOf := func(body string, into map[string]bool) {
		for _, k := range regexp.MustCompile(`(?m)^\s+(\w+):`).FindAllStringSubmatch(body, -1) {
			into[k[1]] = true
		}
	}
	table := func(name string) map[string]bool {
		m := regexp.MustCompile(`(?s)const ` + name + ` = \{(.*?)\n\};`).FindStringSubmatch(src)
		if m == nil {
			t.Fatalf("no table %s in i18n.js", name)
		}
		keys := map[string]bool{}
		keysOf(m[1], keys)
		return keys
	}
	en, ko := table("en"), table("ko")
	for _, p := range staticFiles(t) {
		feature := readStatic(t, p)
		if !strings.HasSuffix(p, ".js") || !strings.Contains(feature, "addStrings({") {
			continue
		}
		for name, keys := range map[string]map[string]bool{"en": en, "ko": ko} {
			m := regexp.MustCompile(`(?s)\n  ` + name + `: \{(.*?)\n  \},`).FindStringSubmatch(feature)
			if m == nil {
				t.Fatalf("%s adds no %s table", p, name)
			}
			keysOf(m[1], keys)
		}
	}
	for k := range en {
		if !ko[k] {
			t.Errorf("Korean lacks %q", k)
		}
	}
	for k := range ko {
		if !en[k] {
			t.Errorf("English lacks %q", k)
		}
	}
	used := regexp.MustCompile(`\bt\("(\w+)"`)
	for _, p := range staticFiles(t) {
		if !strings.HasSuffix(p, ".js") {
			continue
		}
		for _, m := range used.FindAllStringSubmatch(readStatic(t, p), -1) {
			if !en[m[1]] {
				t.Errorf("%s uses the missing string %q", p, m[1])
			}
		}
	}
}

// TestManifestInstallable checks what browsers require to offer "install".
func TestManifestInstallable(t *testing.T) {
	var m struct {
		Name      string
		ShortName string `json:"short_name"`
		StartURL  string `json:"start_url"`
		Display   string
		Icons     []struct{ Src, Sizes, Type, Purpose string }
	}
	if err := json.Unmarshal([]byte(readStatic(t, "/manifest.webmanifest")), &m); err != nil {
		t.Fatal(err)
	}
	if m.ShortName == "" || m.StartURL != "/" || m.Display != "standalone" {
		t.Fatalf("manifest: %+v", m)
	}
	sizes := map[string]bool{}
	for _, ic := range m.Icons {
		rec := serve(t, http.MethodGet, ic.Src, nil)
		if rec.Code != http.StatusOK {
			t.Errorf("icon %s: status %d", ic.Src, rec.Code)
			continue
		}
		if ic.Type != "image/png" {
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(rec.Body.Bytes()))
		if err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
			continue
		}
		if got := fmt.Sprintf("%dx%d", cfg.Width, cfg.Height); got != ic.Sizes {
			t.Errorf("icon %s is %s, manifest says %s", ic.Src, got, ic.Sizes)
		}
		sizes[ic.Sizes+" "+ic.Purpose] = true
	}
	for _, want := range []string{"192x192 any", "512x512 any", "512x512 maskable"} {
		if !sizes[want] {
			t.Errorf("manifest lacks a %s PNG icon", want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header string
		want   bool
	}{
		{"", false},
		{"gzip", true},
		{"deflate, gzip;q=0.8", true},
		{"GZIP", true},
		{"gzip;q=0", false},
		{"gzip; q=0", false},
		{"br", false},
		{"x-gzip", false},
	}
	for _, tt := range tests {
		if got := acceptsGzip(tt.header); got != tt.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}
