package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"

	"happychat/internal/httperr"
	"happychat/schemas"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every response of the handler. It allows
// only the app's own files: no inline script or style attribute in markup, no
// eval, and network access (fetch and WebSocket) to the same origin only.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; manifest-src 'self'; " +
	"worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Placeholders in sw.js that the handler fills in at start.
const (
	versionPlaceholder = "__HAPPYCHAT_VERSION__"
	shellPlaceholder   = `"__HAPPYCHAT_SHELL__"`
)

// contentTypes is the fixed table of the types the app ships. A file with an
// extension missing here fails the package's tests rather than being served
// with a guessed type.
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".webmanifest": "application/manifest+json; charset=utf-8",
	".json":        "application/json; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".txt":         "text/plain; charset=utf-8",
}

// asset is one file ready to serve.
type asset struct {
	body, gz     []byte // gz is nil when compression does not pay
	ctype        string
	etag, gzEtag string
	cache        string
}

type site struct {
	assets map[string]*asset // by URL path, e.g. "/js/api.js"
	index  *asset
}

var loadSite = sync.OnceValues(func() (*site, error) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	return buildSite(sub)
})

// Handler serves the web app: its files, index.html for app routes, and a
// JSON 404 for anything else. It is meant as the fallback (NoRoute) handler
// of a server whose own routes live under /v1 and the operational paths.
func Handler() http.Handler {
	s, err := loadSite()
	if err != nil {
		// Unreachable with a well-formed embed (the tests load it); a
		// visible 500 beats a panic in a serving process.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "web app unavailable: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return s
}

// Serves reports whether Handler would answer r with the app (a file or an
// app route) rather than a 404, for servers that route by themselves.
func Serves(r *http.Request) bool {
	s, err := loadSite()
	if err != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	return s.lookup(r.URL.Path) != nil
}

// isAppRoute reports whether p is a screen of the app's client-side router
// (see static/js/router.js): those answer index.html.
func isAppRoute(p string) bool {
	switch p {
	case "/", "/propose", "/admin":
		return true
	}
	id, ok := strings.CutPrefix(p, "/rooms/")
	if !ok {
		return false
	}
	_, err := schemas.ParseID(id)
	return err == nil
}

func (s *site) lookup(p string) *asset {
	if a, ok := s.assets[p]; ok {
		return a
	}
	if isAppRoute(p) {
		return s.index
	}
	return nil
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	a := s.lookup(r.URL.Path)
	if a != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// A path the app serves, with a method it does not take: 405 with
		// Allow, as the API's own routes answer (a 404 would tell the
		// client the path does not exist).
		h.Set("Allow", "GET, HEAD")
		h.Set("Cache-Control", "no-store")
		httperr.Write(w, schemas.Errorf(httperr.CodeMethodNotAllowed, "method not allowed"))
		return
	}
	if a == nil {
		// The contract's error envelope, so that a mistyped API path is
		// answered the way every other API error is.
		b, _ := schemas.Marshal(schemas.ErrorBody{Error: schemas.Errorf(schemas.CodeNotFound, "no such route")})
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(b)
		return
	}
	body, etag := a.body, a.etag
	if a.gz != nil {
		h.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, a.gzEtag
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", a.cache)
	h.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// buildSite reads every file of fsys, renders sw.js and precomputes what each
// response needs.
func buildSite(fsys fs.FS) (*site, error) {
	raw := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		raw["/"+p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read embedded app: %w", err)
	}
	sw, ok := raw["/sw.js"]
	if !ok || raw["/index.html"] == nil {
		return nil, fmt.Errorf("embedded app lacks index.html or sw.js")
	}

	// The version covers every file but sw.js itself, in a stable order.
	paths := make([]string, 0, len(raw))
	for p := range raw {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	sum := sha256.New()
	var shell []string
	for _, p := range paths {
		if p == "/sw.js" {
			continue
		}
		fmt.Fprintf(sum, "%s\x00%d\x00", p, len(raw[p]))
		sum.Write(raw[p])
		if p != "/index.html" && !strings.HasSuffix(p, ".txt") {
			shell = append(shell, p)
		}
	}
	version := hex.EncodeToString(sum.Sum(nil))[:16]
	// "/" is the shell's entry: navigations are answered from it offline.
	shellJSON, err := schemas.Marshal(append([]string{"/"}, shell...))
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(sw, []byte(versionPlaceholder)) || !bytes.Contains(sw, []byte(shellPlaceholder)) {
		return nil, fmt.Errorf("sw.js lacks its placeholders %s and %s", versionPlaceholder, shellPlaceholder)
	}
	sw = bytes.ReplaceAll(sw, []byte(versionPlaceholder), []byte(version))
	raw["/sw.js"] = bytes.ReplaceAll(sw, []byte(shellPlaceholder), shellJSON)

	s := &site{assets: map[string]*asset{}}
	for p, b := range raw {
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil, fmt.Errorf("embedded app file %s: no content type for %q", p, path.Ext(p))
		}
		a := &asset{body: b, ctype: ctype, cache: "no-cache"}
		h := sha256.Sum256(b)
		a.etag = `"` + hex.EncodeToString(h[:12]) + `"`
		if strings.HasPrefix(p, "/icons/") {
			// Icons change rarely and a stale one is harmless.
			a.cache = "public, max-age=86400"
		}
		if compressible(ctype) && len(b) > 512 {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			_, _ = zw.Write(b)
			if err := zw.Close(); err != nil {
				return nil, err
			}
			if buf.Len() < len(b)*9/10 {
				a.gz = buf.Bytes()
				a.gzEtag = a.etag[:len(a.etag)-1] + `-gz"`
			}
		}
		s.assets[p] = a
	}
	s.index = s.assets["/index.html"]
	// "/" is index.html itself, not a redirect: the manifest's start_url.
	s.assets["/"] = s.index
	return s, nil
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (a
// "gzip;q=0" refusal included).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// etagMatches implements If-None-Match's weak comparison for a list of tags.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for part := range strings.SplitSeq(header, ",") {
		t := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
