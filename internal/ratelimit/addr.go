package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Header names which forwarding header trusted proxies set.
type Header int

const (
	// XForwardedFor is X-Forwarded-For: each proxy appends the address it
	// got the request from.
	XForwardedFor Header = iota
	// Forwarded is RFC 7239's header: each proxy appends a for= element.
	Forwarded
)

// Addresses finds a request's client address and says whether it is exempt
// from address limits. The zero value believes no header and exempts
// nobody.
type Addresses struct {
	// Trusted are the proxies whose forwarding header is believed. Only
	// the header of a trusted peer is read, and only as far left as the
	// proxies are trusted: anything left of the first untrusted address
	// was written by the client and may be forged.
	Trusted []netip.Prefix
	// Header is the one header the trusted proxies set. Reading one only
	// matters: a client can send the other, and a proxy that does not
	// know it passes it on untouched.
	Header Header
	// Exempt is the operator's allowlist: client addresses that no address
	// limit applies to (the project's own load generators and fault suite,
	// which run many clients from one address). User and room limits still
	// apply to them.
	Exempt []netip.Prefix
}

// Client returns the client address of r: the peer of the connection,
// unless the peer is a trusted proxy; then the right-most address of the
// forwarding header that is not a trusted proxy (or the left-most one, if
// every hop is trusted). IPv4-mapped IPv6 addresses are returned as IPv4.
// An unreadable peer (never the case for a request from net/http's server)
// is the zero Addr, which is still a valid key.
func (a Addresses) Client(r *http.Request) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !a.trusted(peer) {
		return peer
	}
	hops := a.hops(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := hops[i]
		if !hop.IsValid() {
			// A hop no trusted proxy would write (a name, "unknown", an
			// obfuscated identifier): the nearest trusted proxy stands in
			// for the client, so such requests share its bucket rather
			// than escape it.
			return client
		}
		client = hop
		if !a.trusted(hop) {
			return hop
		}
	}
	return client
}

// Exempted reports whether addr is on the operator's allowlist.
func (a Addresses) Exempted(addr netip.Addr) bool { return contains(a.Exempt, addr) }

func (a Addresses) trusted(addr netip.Addr) bool { return contains(a.Trusted, addr) }

// hops lists the addresses of the configured header, left to right, over
// every line of it (proxies may add a line rather than extend one). An
// element that is not an address is the zero Addr.
func (a Addresses) hops(h http.Header) []netip.Addr {
	var out []netip.Addr
	name := "X-Forwarded-For"
	if a.Header == Forwarded {
		name = "Forwarded"
	}
	for _, line := range h.Values(name) {
		for elem := range strings.SplitSeq(line, ",") {
			if a.Header == Forwarded {
				elem = forwardedFor(elem)
			}
			out = append(out, parseHost(strings.TrimSpace(elem)))
		}
	}
	return out
}

// forwardedFor returns the for= parameter of one Forwarded element
// (`for=192.0.2.60;proto=http`, `for="[2001:db8::17]:4711"`), unquoted.
func forwardedFor(elem string) string {
	for pair := range strings.SplitSeq(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(k, "for") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// parseHost reads an address with or without a port, IPv6 bracketed or
// not, dropping any zone; anything else is the zero Addr.
func parseHost(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if addr, err := netip.ParseAddr(s); err == nil {
		return addr.Unmap().WithZone("")
	}
	return netip.Addr{}
}

// Key is the bucket key of a client address: an IPv4 address alone, an
// IPv6 address by its /64, since one subscriber commonly holds a whole /64
// and can pick a fresh address from it for every request.
func Key(addr netip.Addr) netip.Prefix {
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // the zero Addr: one shared key
	}
	return p
}

func contains(prefixes []netip.Prefix, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParsePrefixes reads comma-separated addresses and CIDRs (an address is
// its own /32 or /128), for the configuration.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		addr = addr.Unmap()
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}
