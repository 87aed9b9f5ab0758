package ratelimit

import (
	"net/http"
	"net/netip"

	"github.com/gin-gonic/gin"

	"happychat/internal/httperr"
	"happychat/schemas"
)

// PerAddress limits requests by client address (Addresses.Client, keyed by
// Key); the operator's allowlist passes untouched.
type PerAddress struct {
	addrs   Addresses
	buckets *Buckets[netip.Prefix]
	message string
}

// NewPerAddress limits each client address to r; message is what a
// refused client reads.
func NewPerAddress(addrs Addresses, r Rate, message string, o Options) *PerAddress {
	return &PerAddress{addrs: addrs, buckets: NewBuckets[netip.Prefix](r, o), message: message}
}

// Check takes a token for r's client address: nil when the request may go
// on, else the 429 to answer.
func (l *PerAddress) Check(r *http.Request) *schemas.Error {
	addr := l.addrs.Client(r)
	if l.addrs.Exempted(addr) {
		return nil
	}
	if ok, wait := l.buckets.Allow(Key(addr)); !ok {
		return Limited(l.message, wait)
	}
	return nil
}

// Gin is Check as gin middleware: a refusal is rendered as the error
// envelope and ends the chain.
func (l *PerAddress) Gin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if e := l.Check(c.Request); e != nil {
			httperr.Write(c.Writer, e)
			c.Abort()
		}
	}
}
