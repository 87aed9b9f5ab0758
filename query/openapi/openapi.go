// Package openapi holds the OpenAPI 3.1 document of the whole happychat HTTP
// API (command, query and realtime routes, and the operational ones) and
// checks a running API against it: which registered routes it does not
// describe, and whether a response has a status, content type, headers and
// body shape it describes. The query service serves the document at
// /v1/openapi.yaml; tests of any service use Load to hold their responses to
// it.
//
// The canonical copy is openapi.yaml in this directory (go:embed cannot
// reach outside the package's directory); docs/openapi.yaml is a copy that
// a test keeps identical. Edit this one, then run go generate ./query/openapi.
//
// A Doc is immutable after Load and safe for concurrent use.
package openapi

//go:generate cp openapi.yaml ../../docs/openapi.yaml

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed openapi.yaml
var spec []byte

// ContentType is the media type the document is served with (RFC 9512).
const ContentType = "application/yaml"

// Spec returns the document. Callers must not modify the slice.
func Spec() []byte { return spec }

// Route is a registered route as gin names it: Path uses :param and *param.
type Route struct {
	Method string
	Path   string
}

// Doc is the parsed document, ready to check routes and responses.
type Doc struct {
	root     map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex // guards schemas (compiled on first use)
	schemas  map[string]*jsonschema.Schema
}

const docURL = "mem://happychat/openapi.json"

// Load parses the embedded document.
func Load() (*Doc, error) {
	js, err := yaml.YAMLToJSON(spec)
	if err != nil {
		return nil, fmt.Errorf("openapi: parse yaml: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("openapi: decode: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("openapi: document is not an object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, root); err != nil {
		return nil, fmt.Errorf("openapi: add resource: %w", err)
	}
	return &Doc{root: root, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

// OpenAPIPath converts a gin path (/v1/rooms/:id) to the document's form
// (/v1/rooms/{id}).
func OpenAPIPath(ginPath string) string {
	parts := strings.Split(ginPath, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

func (d *Doc) operation(method, ginPath string) (map[string]any, bool) {
	paths, _ := d.root["paths"].(map[string]any)
	item, _ := paths[OpenAPIPath(ginPath)].(map[string]any)
	op, ok := item[strings.ToLower(method)].(map[string]any)
	return op, ok
}

// Missing returns the routes (as "METHOD /path") that the document does not
// describe, sorted. HEAD routes count as described when GET is.
func (d *Doc) Missing(routes []Route) []string {
	var out []string
	for _, r := range routes {
		m := r.Method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		if _, ok := d.operation(m, r.Path); !ok {
			out = append(out, r.Method+" "+OpenAPIPath(r.Path))
		}
	}
	slices.Sort(out)
	return out
}

// Operations lists every documented operation as "METHOD /path", sorted.
func (d *Doc) Operations() []string {
	var out []string
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		ops, _ := item.(map[string]any)
		for m := range ops {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ValidateResponse checks one response of the route (method and gin path)
// against the document: the status must be listed (or a default response
// exist), required headers must be present and well-formed, the content type
// must be one the response lists, and the body must match its schema. For
// application/x-ndjson every line must match the schema named by the media
// type's x-item-schema.
func (d *Doc) ValidateResponse(method, ginPath string, status int, header http.Header, body []byte) error {
	op, ok := d.operation(method, ginPath)
	if !ok {
		return fmt.Errorf("%s %s is not in the document", method, OpenAPIPath(ginPath))
	}
	where := fmt.Sprintf("%s %s → %d", method, OpenAPIPath(ginPath), status)
	responses, _ := op["responses"].(map[string]any)
	code := strconv.Itoa(status)
	resp, ok := responses[code].(map[string]any)
	if !ok {
		code = "default"
		if resp, ok = responses[code].(map[string]any); !ok {
			return fmt.Errorf("%s: status not documented", where)
		}
	}
	ptr := "#/paths/" + escape(OpenAPIPath(ginPath)) + "/" + strings.ToLower(method) + "/responses/" + code
	resp, ptr, err := d.deref(resp, ptr)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := d.checkHeaders(resp, ptr, header); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) > 0 {
			return fmt.Errorf("%s: documented without a body, got %d bytes", where, len(body))
		}
		return nil
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("%s: content type %q: %w", where, header.Get("Content-Type"), err)
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: content type %s not documented (have %v)", where, mt, keys(content))
	}
	mptr := ptr + "/content/" + escape(mt)
	switch {
	case mt == "application/x-ndjson":
		if _, ok := media["x-item-schema"]; !ok {
			return fmt.Errorf("%s: %s has no x-item-schema", where, mt)
		}
		sch, err := d.schema(mptr + "/x-item-schema")
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for line := 1; sc.Scan(); line++ {
			if err := validateJSON(sch, sc.Bytes()); err != nil {
				return fmt.Errorf("%s: line %d: %w", where, line, err)
			}
		}
		return sc.Err()
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if _, ok := media["schema"]; !ok {
			return nil
		}
		sch, err := d.schema(mptr + "/schema")
		if err != nil {
			return err
		}
		if err := validateJSON(sch, body); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		return nil
	case mt == "application/yaml":
		// A YAML body is checked as the value it holds (as schemathesis
		// does), not as a string: the document describes this one as an
		// object.
		if _, ok := media["schema"]; !ok {
			return nil
		}
		sch, err := d.schema(mptr + "/schema")
		if err != nil {
			return err
		}
		js, err := yaml.YAMLToJSON(body)
		if err != nil {
			return fmt.Errorf("%s: not YAML: %w", where, err)
		}
		if err := validateJSON(sch, js); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		return nil
	default:
		// Text and other bodies are checked as a string.
		if _, ok := media["schema"]; !ok {
			return nil
		}
		sch, err := d.schema(mptr + "/schema")
		if err != nil {
			return err
		}
		if err := sch.Validate(string(body)); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		return nil
	}
}

// deref follows a response-level $ref into components/responses.
func (d *Doc) deref(obj map[string]any, ptr string) (map[string]any, string, error) {
	for range 8 {
		ref, ok := obj["$ref"].(string)
		if !ok {
			return obj, ptr, nil
		}
		if !strings.HasPrefix(ref, "#/") {
			return nil, "", fmt.Errorf("unsupported $ref %q", ref)
		}
		var cur any = d.root
		for _, tok := range strings.Split(ref[2:], "/") {
			m, _ := cur.(map[string]any)
			cur = m[unescape(tok)]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("dangling $ref %q", ref)
		}
		obj, ptr = next, ref
	}
	return nil, "", errors.New("$ref chain too long")
}

func (d *Doc) checkHeaders(resp map[string]any, ptr string, header http.Header) error {
	headers, _ := resp["headers"].(map[string]any)
	for name, h := range headers {
		hobj, hptr, err := d.deref(h.(map[string]any), ptr+"/headers/"+escape(name))
		if err != nil {
			return err
		}
		vals := header.Values(name)
		if len(vals) == 0 {
			if req, _ := hobj["required"].(bool); req {
				return fmt.Errorf("required header %s missing", name)
			}
			continue
		}
		if _, ok := hobj["schema"]; !ok {
			continue
		}
		sch, err := d.schema(hptr + "/schema")
		if err != nil {
			return err
		}
		// Header schemas describe the deserialized value: an integer
		// header is checked as a number.
		var v any = vals[0]
		if typ, _ := hobj["schema"].(map[string]any)["type"].(string); typ == "integer" {
			n, err := strconv.ParseInt(vals[0], 10, 64)
			if err != nil {
				return fmt.Errorf("header %s=%q is not an integer", name, vals[0])
			}
			v = n
		}
		if err := sch.Validate(v); err != nil {
			return fmt.Errorf("header %s: %w", name, err)
		}
	}
	return nil
}

func (d *Doc) schema(ptr string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schemas[ptr]; ok {
		return s, nil
	}
	s, err := d.compiler.Compile(docURL + ptr)
	if err != nil {
		return nil, fmt.Errorf("openapi: compile %s: %w", ptr, err)
	}
	d.schemas[ptr] = s
	return s, nil
}

func validateJSON(s *jsonschema.Schema, body []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	return s.Validate(v)
}

func escape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func unescape(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
