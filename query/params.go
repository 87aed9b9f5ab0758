package query

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"happychat/schemas"
)

// Parameter parsing. Every value a client sends is parsed here into a typed
// value (an id, an int, a time) before anything touches a store, and every
// refusal is a 400 bad_request that names the parameter. Unknown and repeated
// parameters are refused too: a typo such as ?befor= would otherwise silently
// return a different page than the client asked for.

func badRequest(msg string) *schemas.Error { return schemas.Errorf(schemas.CodeBadRequest, msg) }

// params is a request's query string, checked against the names a route
// accepts.
type params struct{ v url.Values }

func parseParams(raw string, allowed ...string) (params, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return params{}, badRequest("malformed query string")
	}
	names := make([]string, 0, len(v))
	for name := range v {
		names = append(names, name)
	}
	slices.Sort(names) // report the same parameter first every time
	for _, name := range names {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return params{}, badRequest("unknown parameter " + quoteName(name) + ": this route takes no parameters")
			}
			return params{}, badRequest("unknown parameter " + quoteName(name) + " (allowed: " + strings.Join(allowed, ", ") + ")")
		}
		if len(v[name]) > 1 {
			return params{}, badRequest("parameter " + quoteName(name) + " is repeated")
		}
	}
	return params{v: v}, nil
}

// quoteName quotes a client-chosen parameter name for an error message,
// cut to 40 code points: the message names the parameter, it does not
// replay whatever a client put in the query string (up to 64 KiB).
func quoteName(name string) string {
	if r := []rune(name); len(r) > 40 {
		name = string(r[:40]) + "…"
	}
	return strconv.Quote(name)
}

// get returns the parameter's value and whether it was given. An empty
// value (?before=) counts as given: it is then refused by the parser of the
// value, not silently ignored.
func (p params) get(name string) (string, bool) {
	vs, ok := p.v[name]
	if !ok {
		return "", false
	}
	return vs[0], true
}

// roomPathID parses the {id} path segment.
func roomPathID(s string) (schemas.ID, error) {
	id, err := schemas.ParseID(s)
	if err != nil {
		return 0, badRequest("room id must be a positive decimal integer string")
	}
	return id, nil
}

// optID parses an optional id parameter (0 when absent).
func (p params) optID(name string) (schemas.ID, error) {
	s, ok := p.get(name)
	if !ok {
		return 0, nil
	}
	id, err := schemas.ParseID(s)
	if err != nil {
		return 0, badRequest(name + " must be a positive decimal integer string (an id)")
	}
	return id, nil
}

// optInt parses an optional integer parameter within [lo, hi].
func (p params) optInt(name string, def, lo, hi int) (int, error) {
	s, ok := p.get(name)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	// Atoi accepts a sign; a limit of "+5" is not what a client means to send.
	if err != nil || strings.ContainsAny(s, "+-") || n < lo || n > hi {
		return 0, badRequest(name + " must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi))
	}
	return n, nil
}

// optTime parses an optional RFC 3339 time parameter.
func (p params) optTime(name string) (time.Time, bool, error) {
	s, ok := p.get(name)
	if !ok {
		return time.Time{}, false, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, badRequest(name + " must be an RFC 3339 time, e.g. 2026-11-22T21:21:13.123Z")
	}
	if t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, false, badRequest(name + " must be a time between the years 2000 and 9999")
	}
	return t.UTC(), true, nil
}

// optEnum parses an optional parameter that must be one of values.
func (p params) optEnum(name, def string, values ...string) (string, error) {
	s, ok := p.get(name)
	if !ok {
		return def, nil
	}
	if !slices.Contains(values, s) {
		return "", badRequest(name + " must be one of: " + strings.Join(values, ", "))
	}
	return s, nil
}
