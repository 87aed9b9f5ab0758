//go:build unix

package bench

import (
	"fmt"
	"syscall"
)

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard one and returns it.
// The Go runtime already does so at start on Linux and the BSDs; doing it
// again costs nothing and states the dependency here, where 20,000 sockets
// need it.
func raiseFDLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			// Keep the soft limit: clamping to it is still right.
			return uint64(lim.Cur), nil
		}
		lim = raised
	}
	return uint64(lim.Cur), nil
}
