package query

import (
	"net/netip"

	"github.com/gin-gonic/gin"

	"happychat/internal/httperr"
	"happychat/internal/ratelimit"
	"happychat/schemas"
)

// Limits are the read routes' rates. Each is a per-instance token bucket
// (no store round trip): with N query instances a key can reach N times
// its rate at most. A zero rate limits nothing; cmd/internal/config has the
// defaults. How many exports and analytics queries run at once is bounded
// apart from these rates.
type Limits struct {
	// Addresses finds a request's client address (trusted proxies) and
	// holds the operator's allowlist, exempt from the address limits.
	Addresses ratelimit.Addresses
	// PerAddress limits every read route by client address.
	PerAddress ratelimit.Rate
	// Reads limits room lists, rooms and history pages per user; a caller
	// without a token is keyed by its address (unless allowlisted).
	Reads ratelimit.Rate
	// HeavyReads limits exports and analytics the same way: each can keep
	// a store busy for seconds.
	HeavyReads ratelimit.Rate
}

// readKey is whom a read is counted against: a user, or, for a caller
// without a valid token, a client address.
type readKey struct {
	user schemas.ID
	addr netip.Prefix
}

// readLimits are the service's buckets.
type readLimits struct {
	addrs        ratelimit.Addresses
	perAddress   *ratelimit.PerAddress
	reads, heavy *ratelimit.Buckets[readKey]
	heavyRoutes  map[string]bool
}

func newReadLimits(l Limits) *readLimits {
	return &readLimits{
		addrs:       l.Addresses,
		perAddress:  ratelimit.NewPerAddress(l.Addresses, l.PerAddress, "too many requests from this address, slow down", ratelimit.Options{}),
		reads:       ratelimit.NewBuckets[readKey](l.Reads, ratelimit.Options{}),
		heavy:       ratelimit.NewBuckets[readKey](l.HeavyReads, ratelimit.Options{}),
		heavyRoutes: map[string]bool{"export": true, "activity": true, "top_senders": true},
	}
}

// admit takes the tokens of a request to route (a name of Register): the
// address's, then the caller's. A refusal is rendered and ends the chain.
// An invalid token is keyed by address here and refused by the handler.
func (s *Service) admit(c *gin.Context, route string) bool {
	l := s.limits
	if l == nil {
		return true // a Service built without New (unit tests)
	}
	if e := l.perAddress.Check(c.Request); e != nil {
		httperr.Write(c.Writer, e)
		c.Abort()
		return false
	}
	if route == "openapi" {
		return true // a static document: the address limit is enough
	}
	b := l.reads
	if l.heavyRoutes[route] {
		b = l.heavy
	}
	caller, _ := s.identify(c.GetHeader("Authorization"))
	var key readKey
	switch {
	case caller.Admin:
		return true // the operator's own requests
	case caller.UserID != 0:
		key.user = caller.UserID
	default:
		addr := l.addrs.Client(c.Request)
		if l.addrs.Exempted(addr) {
			return true
		}
		key.addr = ratelimit.Key(addr)
	}
	if ok, wait := b.Allow(key); !ok {
		httperr.Write(c.Writer, ratelimit.Limited("too many reads, slow down", wait))
		c.Abort()
		return false
	}
	return true
}
