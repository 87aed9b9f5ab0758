//go:build !linux

package bench

import "time"

// sleepPrecise is a plain sleep where nanosleep(2) is not wired up: the
// slots are still absolute, only the issue lag (slot → write) is larger.
func sleepPrecise(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}
