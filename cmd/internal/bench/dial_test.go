package bench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
)

func TestParseSourceIPs(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name    string
		in      string
		want    []netip.Addr
		wantErr bool
	}{
		{name: "empty", in: ""},
		{name: "blank items", in: " , "},
		{name: "one", in: "127.0.0.1", want: addrs("127.0.0.1")},
		{name: "range", in: "127.0.0.1-127.0.0.4", want: addrs("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")},
		{name: "last octet", in: "127.0.0.6-8", want: addrs("127.0.0.6", "127.0.0.7", "127.0.0.8")},
		{name: "across an octet", in: "127.0.0.255-127.0.1.1", want: addrs("127.0.0.255", "127.0.1.0", "127.0.1.1")},
		{name: "list", in: "127.0.0.1, 127.0.0.3-4,::1", want: addrs("127.0.0.1", "127.0.0.3", "127.0.0.4", "::1")},
		{name: "single-address range", in: "127.0.0.2-127.0.0.2", want: addrs("127.0.0.2")},
		{name: "descending", in: "127.0.0.8-127.0.0.1", wantErr: true},
		{name: "mixed families", in: "127.0.0.1-::1", wantErr: true},
		{name: "octet out of range", in: "127.0.0.1-256", wantErr: true},
		{name: "not an address", in: "localhost", wantErr: true},
		{name: "too many", in: "127.0.0.0-127.0.255.255", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSourceIPs(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDialErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), "refused"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), "reset"},
		{fmt.Errorf("socket: %w", syscall.EMFILE), "local_fd_limit"},
		{fmt.Errorf("connect: %w", syscall.EADDRNOTAVAIL), "no_local_port"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("something"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := dialErrorKind(tt.err); got != tt.want {
				t.Fatalf("dialErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestCheckSources(t *testing.T) {
	loop := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	tests := []struct {
		name    string
		ips     []netip.Addr
		ws      string
		wantErr bool
	}{
		{"no sources", nil, "ws://192.0.2.1:8080", false},
		{"loopback to loopback", loop, "ws://127.0.0.1:8080", false},
		{"loopback to another host", loop, "ws://192.0.2.1:8080", true},
		{"another source", []netip.Addr{netip.MustParseAddr("192.0.2.7")}, "ws://192.0.2.1:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkSources(context.Background(), tt.ips, tt.ws); (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
