package chaos

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"sync"
)

// handedOut are the ports freeAddr gave out in this process. A port is
// handed out once: between the pick and its process's bind nothing holds
// it, and a process keeps its address while it is down, so a second pick
// of the same port lets the later process refuse to start (seen in CI:
// realtime-2, the last process a system starts, "bind: address already in
// use" on a port picked, free, for another process of the same system: 12
// picks among 7,000 ports repeat about once in a hundred starts).
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freeAddr picks a free port for a process of the system, below the
// kernel's ephemeral range (32768–60999 by default): a process keeps its
// address across its restarts, and while it is down any outbound
// connection of any process may take an ephemeral port as its source port
// (seen: a realtime instance restarted by rolling-upgrade refused with
// "address already in use", again and again). 21000–27999 is clear of the
// ports deploy/local uses (15432, 18xxx, 19xxx, 29xxx).
func freeAddr() (string, error) {
	const base, span = 21000, 7000
	handedOut.Lock()
	defer handedOut.Unlock()
	var err error
	for range 500 {
		port := base + mrand.IntN(span)
		if handedOut.ports[port] {
			continue
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			handedOut.ports[port] = true
			return ln.Addr().String(), ln.Close()
		}
	}
	if err == nil {
		err = fmt.Errorf("%d of them handed out already", len(handedOut.ports))
	}
	return "", fmt.Errorf("no free port in %d..%d: %w", base, base+span-1, err)
}
