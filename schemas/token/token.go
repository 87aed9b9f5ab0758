// Package token issues and verifies the bearer tokens of the light login: a
// JWT signed with HMAC-SHA256 under the configured secret. The algorithm is
// pinned (a token naming any other, "none" included, is refused), the expiry
// is required, and the subject is the user's snowflake id. Every service that
// authenticates requests (command, query, realtime) verifies with the same
// secrets; only the command service issues.
//
// Signing keys rotate (CHAT_TOKEN_SECRET, CHAT_TOKEN_PREVIOUS_SECRETS): a
// token names its key in the JWT header's "kid", an id derived from the key
// (never the key); new tokens are signed with the current key, and tokens of
// the current or a previous key verify. A token without a kid (issued
// before kids existed) verifies against the current key only, the key that
// signed every such token until the first rotation. The admin token is
// compared here too (Admin).
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"happychat/schemas"
)

// ErrInvalid is returned for every token that must be refused: missing,
// malformed, forged, of another algorithm, or expired. Callers answer 401.
var ErrInvalid = errors.New("invalid token")

const issuer = "happychat"

// Claims is who a token speaks for.
type Claims struct {
	UserID   schemas.ID
	Nickname string
	Expires  time.Time
}

type jwtClaims struct {
	Nick string `json:"nick"`
	jwt.RegisteredClaims
}

// Keys signs and verifies tokens.
type Keys struct {
	secret []byte // the current key: signs, and verifies tokens without a kid
	kid    string // the current key's id
	byKID  map[string][]byte
	ttl    time.Duration
	now    func() time.Time
	cache  *verified
}

// verified remembers tokens that passed verification: a token's claims never
// change, so a repeat only needs its expiry checked again. Parsing and the
// HMAC dominate the cost of a small write otherwise.
type verified struct {
	mu sync.Mutex
	m  map[string]Claims
}

// maxCached bounds the cache; it is cleared when full (cheap, and a hostile
// stream of distinct valid tokens cannot be minted without the secret).
const maxCached = 1 << 16

// New returns Keys that sign with secret and verify tokens of secret or of
// any of the previous secrets (each at least 16 bytes), with token lifetime
// ttl.
func New(secret string, ttl time.Duration, previous ...string) (*Keys, error) {
	if ttl <= 0 {
		return nil, errors.New("token ttl must be positive")
	}
	k := &Keys{secret: []byte(secret), kid: KeyID(secret), byKID: map[string][]byte{},
		ttl: ttl, now: time.Now, cache: &verified{m: map[string]Claims{}}}
	for _, s := range append([]string{secret}, previous...) {
		if len(s) < 16 {
			return nil, errors.New("token secret must be at least 16 bytes")
		}
		if _, dup := k.byKID[KeyID(s)]; dup {
			return nil, errors.New("token secrets must differ (two have one key id)")
		}
		k.byKID[KeyID(s)] = []byte(s)
	}
	return k, nil
}

// KeyID is the "kid" of tokens signed with secret: 12 hex digits of an HMAC
// of a fixed label under the secret, so that instances agree on it without
// configuration and it reveals nothing of the secret. It only tells a few
// configured keys apart (New refuses two with one kid).
func KeyID(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("happychat token key id v1"))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// WithClock returns a copy of k that reads time from now (tests).
func (k *Keys) WithClock(now func() time.Time) *Keys {
	c := *k
	c.now = now
	c.cache = &verified{m: map[string]Claims{}}
	return &c
}

// Issue signs a token for user.
func (k *Keys) Issue(user schemas.ID, nickname string) (string, time.Time, error) {
	now := k.now()
	exp := now.Add(k.ttl)
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Nick: nickname,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   user.String(),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	})
	t.Header["kid"] = k.kid
	s, err := t.SignedString(k.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// maxTokenLen bounds the work spent on a hostile token.
const maxTokenLen = 2048

// Verify checks a token and returns its claims, or an error wrapping ErrInvalid.
func (k *Keys) Verify(s string) (Claims, error) {
	if s == "" || len(s) > maxTokenLen || !utf8.ValidString(s) || strings.Count(s, ".") != 2 {
		return Claims{}, fmt.Errorf("%w: malformed", ErrInvalid)
	}
	k.cache.mu.Lock()
	c, ok := k.cache.m[s]
	k.cache.mu.Unlock()
	if ok {
		if !k.now().Before(c.Expires) {
			return Claims{}, fmt.Errorf("%w: token is expired", ErrInvalid)
		}
		return c, nil
	}
	c, err := k.verify(s)
	if err != nil {
		return Claims{}, err
	}
	k.cache.mu.Lock()
	if len(k.cache.m) >= maxCached {
		clear(k.cache.m)
	}
	// Cloned: s is often a slice of a request line that would otherwise
	// stay alive as long as the cache entry.
	k.cache.m[strings.Clone(s)] = c
	k.cache.mu.Unlock()
	return c, nil
}

func (k *Keys) verify(s string) (Claims, error) {
	var c jwtClaims
	_, err := jwt.ParseWithClaims(s, &c, k.keyOf,
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(k.now),
		jwt.WithStrictDecoding(),
	)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	id, err := schemas.ParseID(c.Subject)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: subject: %w", ErrInvalid, err)
	}
	return Claims{UserID: id, Nickname: c.Nick, Expires: c.ExpiresAt.Time}, nil
}

// keyOf picks the key a token names: its kid's, or the current key for a
// token without one. An unknown or malformed kid is refused (a key retired
// from CHAT_TOKEN_PREVIOUS_SECRETS, or a forgery).
func (k *Keys) keyOf(t *jwt.Token) (any, error) {
	v, ok := t.Header["kid"]
	if !ok {
		return k.secret, nil
	}
	kid, ok := v.(string)
	if !ok {
		return nil, errors.New("kid is not a string")
	}
	key, ok := k.byKID[kid]
	if !ok {
		return nil, errors.New("unknown kid")
	}
	return key, nil
}

// FromHeader extracts the token of an "Authorization: Bearer <token>" value.
func FromHeader(h string) (string, bool) {
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}
