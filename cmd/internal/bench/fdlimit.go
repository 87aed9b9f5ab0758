package bench

import "math"

// fdMargin is the descriptors kept free for what is not a socket under
// test: stdio, the runtime's poller, the API client's keep-alive
// connections (one per setup worker), the /metrics scrapes, the -out and
// -png files.
const fdMargin = 100

// clampConns returns how many sockets fit under an RLIMIT_NOFILE of limit
// with margin descriptors kept free: requested, or fewer.
func clampConns(requested int, limit uint64, margin int) int {
	if requested <= 0 {
		return 0
	}
	if limit > math.MaxInt32 { // RLIM_INFINITY and friends
		return requested
	}
	return max(0, min(requested, int(limit)-margin))
}
