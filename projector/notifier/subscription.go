package notifier

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"happychat/schemas"
)

// Bounds of a subscription. Endpoints of the push services in use are
// 100–500 bytes; 2,048 leaves room and bounds a row.
const (
	maxEndpointBytes = 2048
	p256dhBytes      = 65 // an uncompressed P-256 point (RFC 8291, section 3.1)
	authBytes        = 16 // RFC 8291, section 3.2
	// maxKeyChars bounds a key's text before it is decoded: the longest
	// base64 of 65 bytes is 88 characters.
	maxKeyChars = 128
)

// Subscription is the browser's PushSubscription as its toJSON() gives it.
// ExpirationTime is accepted (browsers send it, mostly null) and ignored:
// a push service answers 404/410 once a subscription is gone. A float, so
// that 99.0 (an integer to JSON Schema) is read as well as 99.
type Subscription struct {
	Endpoint       string   `json:"endpoint"`
	ExpirationTime *float64 `json:"expirationTime,omitzero"`
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

func badRequest(format string, args ...any) error {
	return schemas.Errorf(schemas.CodeBadRequest, fmt.Sprintf(format, args...))
}

// validate checks a subscription and returns it with its keys in the
// canonical form (unpadded base64url). Each refusal names the field and
// the rule.
func (s Subscription) validate(allowLoopback bool) (Subscription, error) {
	if err := checkEndpoint(s.Endpoint, allowLoopback); err != nil {
		return s, err
	}
	p, err := checkKey("keys.p256dh", s.Keys.P256dh, p256dhBytes)
	if err != nil {
		return s, err
	}
	if _, err := ecdh.P256().NewPublicKey(p); err != nil {
		return s, badRequest(`field "keys.p256dh" must be a point of the P-256 curve`)
	}
	a, err := checkKey("keys.auth", s.Keys.Auth, authBytes)
	if err != nil {
		return s, err
	}
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(p)
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(a)
	return s, nil
}

// checkEndpoint accepts an https URL of a push service on a public host:
// the notifier POSTs to it, so a private address would let any user make
// the notifier reach into the deployment's network. allowLoopback (dev,
// tests) also accepts http:// and https:// on loopback.
func checkEndpoint(endpoint string, allowLoopback bool) error {
	const field = `field "endpoint"`
	if endpoint == "" {
		return badRequest("%s is required", field)
	}
	if len(endpoint) > maxEndpointBytes {
		return badRequest("%s must be at most %d bytes (it has %d)", field, maxEndpointBytes, len(endpoint))
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return badRequest("%s must be an absolute https URL", field)
	}
	if u.User != nil || u.Fragment != "" {
		return badRequest("%s must not carry credentials or a fragment", field)
	}
	loopback := isLoopbackHost(u.Hostname())
	switch {
	case loopback && !allowLoopback:
		return badRequest("%s must not be a loopback address", field)
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback:
	default:
		return badRequest("%s must be an https URL", field)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !loopback && !publicAddr(ip) {
		return badRequest("%s must not be a private or reserved address", field)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publicAddr reports whether a push service could be at ip: not private,
// loopback, link-local, multicast or unspecified.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast()
}

// checkEndpointToDelete refuses what could never have been stored: an
// empty or oversized endpoint, or one that is not a URL (a NUL, which
// PostgreSQL text cannot even hold, or another control character).
func checkEndpointToDelete(endpoint string) error {
	if endpoint == "" || len(endpoint) > maxEndpointBytes {
		return badRequest(`field "endpoint" is required, at most %d bytes`, maxEndpointBytes)
	}
	if _, err := url.Parse(endpoint); err != nil || strings.ContainsRune(endpoint, 0) {
		return badRequest(`field "endpoint" must be a URL`)
	}
	return nil
}

// checkKey decodes a key in base64url (padded or not, as browsers differ)
// and checks its length in bytes.
func checkKey(field, v string, want int) ([]byte, error) {
	if v == "" {
		return nil, badRequest("field %q is required", field)
	}
	if len(v) > maxKeyChars {
		return nil, badRequest("field %q must be %d bytes in base64url (it has %d characters)", field, want, len(v))
	}
	b, err := decodeKey(v)
	if err != nil {
		return nil, badRequest("field %q must be base64url", field)
	}
	if len(b) != want {
		return nil, badRequest("field %q must be %d bytes in base64url (it decodes to %d)", field, want, len(b))
	}
	return b, nil
}

// decodeKey decodes base64url with or without padding.
func decodeKey(v string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
}

// samePair reports whether priv is the private key of the public point pub.
func samePair(pub, priv []byte) bool {
	k, err := ecdh.P256().NewPrivateKey(priv)
	return err == nil && bytes.Equal(k.PublicKey().Bytes(), pub)
}
