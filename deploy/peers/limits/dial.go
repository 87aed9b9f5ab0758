package main

import (
	"log"
	"math/bits"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

var (
	dialersMu sync.Mutex
	dialers   = map[int]*websocket.Dialer{}
	wbufPool  = &sync.Pool{} // idle sockets hold no write buffer
)

// wsDialer returns the dialer for client i: with -srcs K, client i dials
// from 127.0.0.(2+i%K), so that K x ~28k ephemeral ports are available
// towards one server address.
func wsDialer(i int) *websocket.Dialer {
	src := -1
	if *srcs > 0 {
		src = i % *srcs
	}
	dialersMu.Lock()
	defer dialersMu.Unlock()
	if d := dialers[src]; d != nil {
		return d
	}
	nd := &net.Dialer{Timeout: 10 * time.Second}
	if src >= 0 {
		ip := uint32(0x7f000002) + uint32(src)
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip))}
	}
	d := &websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second, WriteBufferPool: wbufPool}
	dialers[src] = d
	return d
}

// checkFDs fails early when the process cannot hold the sockets asked for
// (Go has already raised the soft limit to the hard one).
func checkFDs(need int) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && uint64(need) > lim.Cur {
		log.Fatalf("need about %d open files, RLIMIT_NOFILE is %d: raise it (ulimit -n) or lower -n", need, lim.Cur)
	}
	if *srcs == 0 && *n > 25000 {
		log.Printf("warning: %d sockets from one source address may run out of ephemeral ports; use -srcs", *n)
	}
}

// nthSet returns the index of the nth (0-based) set bit of words.
func nthSet(words []uint64, nth int) int {
	for i, w := range words {
		c := bits.OnesCount64(w)
		if nth >= c {
			nth -= c
			continue
		}
		for ; ; nth-- {
			b := bits.TrailingZeros64(w)
			if nth == 0 {
				return i*64 + b
			}
			w &^= 1 << b
		}
	}
	return -1
}
