package ratelimit

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClient(t *testing.T) {
	proxies := []string{"10.0.0.0/8", "2001:db8:ffff::/48"}
	tests := []struct {
		name    string
		trusted []string
		header  Header
		remote  string
		xff     []string
		fwd     []string
		want    string
	}{
		{"no proxy: the peer", nil, XForwardedFor, "192.0.2.7:5555", nil, nil, "192.0.2.7"},
		{"spoofed XFF from an untrusted peer is ignored", proxies, XForwardedFor, "192.0.2.7:5555",
			[]string{"198.51.100.1"}, nil, "192.0.2.7"},
		{"spoofed XFF without any trusted proxy is ignored", nil, XForwardedFor, "192.0.2.7:5555",
			[]string{"198.51.100.1"}, nil, "192.0.2.7"},
		{"one trusted proxy: the address it appended", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"192.0.2.9"}, nil, "192.0.2.9"},
		{"a forged left part is skipped: the right-most untrusted hop", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"1.1.1.1, 8.8.8.8, 192.0.2.9"}, nil, "192.0.2.9"},
		{"a chain of trusted proxies is walked", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"1.1.1.1, 192.0.2.9, 10.2.2.2, 10.3.3.3"}, nil, "192.0.2.9"},
		{"several header lines read as one list", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"1.1.1.1", "192.0.2.9, 10.3.3.3"}, nil, "192.0.2.9"},
		{"every hop trusted: the left-most", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"10.5.5.5, 10.3.3.3"}, nil, "10.5.5.5"},
		{"trusted peer without the header: the peer", proxies, XForwardedFor, "10.1.1.1:80",
			nil, nil, "10.1.1.1"},
		{"garbage where the client should be: the nearest trusted proxy", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"1.1.1.1, unknown, 10.3.3.3"}, nil, "10.3.3.3"},
		{"ports and brackets are accepted", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"[2001:db8::5]:443"}, nil, "2001:db8::5"},
		{"IPv4-mapped IPv6 is IPv4", proxies, XForwardedFor, "[::ffff:10.1.1.1]:80",
			[]string{"::ffff:192.0.2.9"}, nil, "192.0.2.9"},
		{"IPv6 trusted proxy", proxies, XForwardedFor, "[2001:db8:ffff:1::1]:80",
			[]string{"2001:db8:1::77"}, nil, "2001:db8:1::77"},
		{"Forwarded when configured", proxies, Forwarded, "10.1.1.1:80",
			nil, []string{`for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.3.3.3;by=10.1.1.1`}, "2001:db8:cafe::17"},
		{"Forwarded configured: XFF is the client's and ignored", proxies, Forwarded, "10.1.1.1:80",
			[]string{"198.51.100.1"}, []string{"for=192.0.2.9"}, "192.0.2.9"},
		{"XFF configured: Forwarded is the client's and ignored", proxies, XForwardedFor, "10.1.1.1:80",
			[]string{"192.0.2.9"}, []string{"for=198.51.100.1"}, "192.0.2.9"},
		{"obfuscated Forwarded identifier", proxies, Forwarded, "10.1.1.1:80",
			nil, []string{`for=_hidden, for=10.3.3.3`}, "10.3.3.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Addresses{Header: tt.header}
			if tt.trusted != nil {
				a.Trusted = mustPrefixes(t, tt.trusted...)
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.fwd {
				r.Header.Add("Forwarded", v)
			}
			if got := a.Client(r); got != netip.MustParseAddr(tt.want) {
				t.Fatalf("client %v, want %s", got, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := Key(netip.MustParseAddr(tt.addr)); got != netip.MustParsePrefix(tt.want) {
			t.Errorf("Key(%s) = %v, want %s", tt.addr, got, tt.want)
		}
	}
	if got := Key(netip.Addr{}); got != (netip.Prefix{}) {
		t.Errorf("Key(zero) = %v, want the zero prefix", got)
	}
}

func TestExempted(t *testing.T) {
	a := Addresses{Exempt: mustPrefixes(t, "127.0.0.0/8", "::1", "2001:db8:aa::/48")}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "2001:db8:aa:1::5": true,
		"128.0.0.1": false, "::2": false, "2001:db8:ab::1": false,
	} {
		if got := a.Exempted(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Exempted(%s) = %v, want %v", addr, got, want)
		}
	}
	if a.Exempted(netip.Addr{}) {
		t.Error("the zero address is exempt")
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.1.2.3/8", "::ffff:192.0.2.1", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.1/32", "2001:db8::1/128"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("%d: %v, want %s", i, p, want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "1.2.3", ""} {
		if _, err := ParsePrefixes([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
