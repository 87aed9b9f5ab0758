//go:build !unix

package bench

import "math"

// raiseFDLimit: no RLIMIT_NOFILE here; the system's own limits apply.
func raiseFDLimit() (uint64, error) { return math.MaxUint64, nil }
