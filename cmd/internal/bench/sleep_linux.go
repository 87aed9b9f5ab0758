package bench

import (
	"syscall"
	"time"
)

// sleepPrecise waits with nanosleep(2). On the 2-vCPU VMs of
// docs/benchmarks.md a Go timer rounds a sub-millisecond sleep up to about
// 1.1 ms, which at 1,000 sends/s delays every send behind its slot and
// bunches them; nanosleep overshoots about 0.1 ms. Only the scheduler's
// goroutine blocks in it (its thread is taken off the Go scheduler while it
// sleeps).
func sleepPrecise(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
