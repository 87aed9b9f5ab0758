package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// maxSourceIPs bounds -source-ips, so that a typo (127.0.0.1-127.1.0.0)
// does not become a list of 65,000 addresses.
const maxSourceIPs = 1024

// ParseSourceIPs reads a comma-separated list of addresses and ranges:
// "127.0.0.1", "127.0.0.1-127.0.0.8", or "127.0.0.1-8" (the last octet of
// an IPv4 range). Empty means none: the system picks the source address.
func ParseSourceIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		first, last, isRange := strings.Cut(item, "-")
		lo, err := netip.ParseAddr(strings.TrimSpace(first))
		if err != nil {
			return nil, fmt.Errorf("source IPs %q: %w", item, err)
		}
		hi := lo
		if isRange {
			last = strings.TrimSpace(last)
			if n, err := strconv.Atoi(last); err == nil && lo.Is4() {
				if n < 0 || n > 255 {
					return nil, fmt.Errorf("source IPs %q: last octet %d out of range", item, n)
				}
				b := lo.As4()
				b[3] = byte(n)
				hi = netip.AddrFrom4(b)
			} else if hi, err = netip.ParseAddr(last); err != nil {
				return nil, fmt.Errorf("source IPs %q: %w", item, err)
			}
		}
		if lo.BitLen() != hi.BitLen() || hi.Less(lo) {
			return nil, fmt.Errorf("source IPs %q: not an ascending range of one address family", item)
		}
		for a := lo; ; a = a.Next() {
			if len(out) == maxSourceIPs {
				return nil, fmt.Errorf("source IPs %q: more than %d addresses", s, maxSourceIPs)
			}
			out = append(out, a)
			if a == hi {
				break
			}
		}
	}
	return out, nil
}

// newDialer returns a WebSocket dialer that binds each new connection to the
// next of ips in turn (none: the system's choice). One source address and
// one server address:port leave about 28,000 ephemeral ports (Linux's
// default range), and fewer once closed sockets linger in TIME_WAIT;
// several loopback sources multiply that, and 127.0.0.0/8 needs no
// configuration on Linux.
func newDialer(ips []netip.Addr, handshake time.Duration, bufSize int) *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: handshake, ReadBufferSize: bufSize, WriteBufferSize: bufSize}
	if len(ips) == 0 {
		return d
	}
	var next atomic.Uint64
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ip := ips[(next.Add(1)-1)%uint64(len(ips))]
		nd := net.Dialer{Timeout: handshake, LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}}
		return nd.DialContext(ctx, network, addr)
	}
	return d
}

// checkSources refuses loopback source addresses for a server that is not on
// loopback: every dial would fail with "network unreachable", which says
// nothing about the server.
func checkSources(ctx context.Context, ips []netip.Addr, wsBase string) error {
	if len(ips) == 0 {
		return nil
	}
	u, err := url.Parse(wsBase)
	if err != nil {
		return fmt.Errorf("realtime URL %q: %w", wsBase, err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", u.Hostname(), err)
	}
	for _, src := range ips {
		if !src.IsLoopback() {
			return nil
		}
	}
	for _, a := range addrs {
		if a.Unmap().IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("the source IPs are loopback addresses but %s is not on this machine: set -source-ips to this host's addresses, or to \"\"", u.Hostname())
}

// openSocket dials one member's socket and reads the presence frame the
// server sends first, so that an open socket is a subscribed one.
func openSocket(ctx context.Context, d *websocket.Dialer, wsBase string, m *member) error {
	q := url.Values{"room": {m.roomID.String()}, "token": {m.token}}
	ws, resp, err := d.DialContext(ctx, wsBase+"/v1/ws?"+q.Encode(), nil)
	if err != nil {
		if resp != nil {
			return &dialError{kind: "status " + strconv.Itoa(resp.StatusCode), err: err}
		}
		return &dialError{kind: dialErrorKind(err), err: err}
	}
	_ = ws.SetReadDeadline(time.Now().Add(d.HandshakeTimeout))
	if _, _, err := ws.ReadMessage(); err != nil {
		_ = ws.Close()
		return &dialError{kind: "presence " + dialErrorKind(err), err: fmt.Errorf("read presence: %w", err)}
	}
	_ = ws.SetReadDeadline(time.Time{})
	m.ws = ws
	return nil
}

// dialError is a failed socket with a short kind for the tallies.
type dialError struct {
	kind string
	err  error
}

func (e *dialError) Error() string { return e.kind + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// dialErrorKind names the usual ways a dial fails under load. An fd-starved
// server's kernel still completes the TCP handshake (the listen backlog) but
// nobody accepts: a timeout; a full backlog or a crashed server: reset or
// refused; the client's own limits: EMFILE or EADDRNOTAVAIL.
func dialErrorKind(err error) string {
	var ne net.Error
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "local_fd_limit"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no_local_port"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ce):
		return "closed " + strconv.Itoa(ce.Code)
	case errors.Is(err, websocket.ErrBadHandshake):
		return "bad_handshake"
	}
	return "other"
}

// dialResult is what dialAll did.
type dialResult struct {
	open    int
	failed  int
	byKind  map[string]int
	samples []string // the first few errors, in full
	elapsed time.Duration
}

// dialOpts says how dialAll dials.
type dialOpts struct {
	// concurrency bounds the dials in flight.
	concurrency int
	// maxFailed is how many failures are tolerated before dialing stops.
	maxFailed int
	// onOpen, if set, is called with each member whose socket opened, from
	// the dialing goroutine: a reader started there answers the server's
	// pings while the other sockets are still being dialed.
	onOpen func(*member)
	// progress, if set, is called every 5 s with the tallies so far.
	progress func(open, failed int)
}

// dialAll opens the sockets of members. It counts failures and stops
// dialing once more than o.maxFailed have failed, returning an error then;
// members whose dial failed keep a nil ws. It also stops at ctx's end.
func dialAll(ctx context.Context, d *websocket.Dialer, wsBase string, members []*member, o dialOpts) (dialResult, error) {
	res := dialResult{byKind: map[string]int{}}
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		next    atomic.Int64
		aborted error
	)
	lastLog := time.Now()
	for range min(max(1, o.concurrency), len(members)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(members) || ctx.Err() != nil {
					return
				}
				err := openSocket(ctx, d, wsBase, members[i])
				if err == nil && o.onOpen != nil {
					o.onOpen(members[i])
				}
				mu.Lock()
				if err == nil {
					res.open++
				} else if ctx.Err() == nil {
					res.failed++
					var de *dialError
					kind := "other"
					if errors.As(err, &de) {
						kind = de.kind
					}
					res.byKind[kind]++
					if len(res.samples) < 5 {
						res.samples = append(res.samples, err.Error())
					}
					if res.failed > o.maxFailed && aborted == nil {
						aborted = fmt.Errorf("%d of %d sockets failed to open (at most %d allowed), last: %w", res.failed, len(members), o.maxFailed, err)
						cancel()
					}
				}
				if o.progress != nil && time.Since(lastLog) > 5*time.Second {
					lastLog = time.Now()
					o.progress(res.open, res.failed)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if aborted != nil {
		return res, aborted
	}
	return res, ctx.Err()
}

// closeSockets closes every open socket the polite way, concurrently: a
// close frame first (the server answers with its own and its reader ends),
// then, after at most grace for the readers to see the answer, the
// connection itself. readers is the WaitGroup of the sockets' readers.
func closeSockets(members []*member, readers *sync.WaitGroup, grace time.Duration) {
	var wg sync.WaitGroup
	var next atomic.Int64
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for range min(64, len(members)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(members) {
					return
				}
				if ws := members[i].ws; ws != nil {
					_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
				}
			}
		})
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
	}
	for _, m := range members {
		if m.ws != nil {
			_ = m.ws.Close()
		}
	}
}

// httpClient is the API client's transport: as many idle keep-alive
// connections as workers, or every setup call beyond two would open a new
// connection and leave one in TIME_WAIT.
func httpClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}
