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
//
// Every token names its session in "jti" (128 random bits), so that one
// token can be revoked (logout) without the others of its user; Keys
// built WithRevocations refuse a revoked token (ErrRevoked), and refuse
// to judge (ErrNotReady) until the revocations are read
// (docs/adr/0007-token-revocation.md).
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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

// ErrRevoked wraps ErrInvalid: the token is well formed, signed and
// unexpired, but its session was ended (logout).
var ErrRevoked = fmt.Errorf("%w: revoked", ErrInvalid)

// ErrNotReady is returned, instead of a verdict, while the revocations are
// still being read (an instance starting): the token may be valid, so
// callers answer 503 and the client retries, keeping its token.
var ErrNotReady = errors.New("revoked tokens are still being read, retry")

// Revocations tells a verified token's session apart from a revoked one
// (internal/revoked keeps them from the users topic). Check returns nil,
// ErrRevoked or ErrNotReady; it must not do I/O: it runs on every
// authenticated request.
type Revocations interface {
	Check(Claims) error
}

const issuer = "happychat"

// Claims is who a token speaks for.
type Claims struct {
	UserID   schemas.ID
	Nickname string
	Expires  time.Time
	// IssuedAt is the token's "iat" (zero if absent).
	IssuedAt time.Time
	// SessionID is the token's "jti", empty on tokens issued before
	// session ids existed.
	SessionID string
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
	// revoked, if set, is asked after the signature and expiry checks.
	revoked Revocations
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

// WithRevocations returns a copy of k whose Verify also refuses the tokens
// r says were revoked (and answers ErrNotReady while r cannot tell yet).
// The copy shares k's cache: the cache keeps signatures checked, never a
// revocation verdict.
func (k *Keys) WithRevocations(r Revocations) *Keys {
	c := *k
	c.revoked = r
	return &c
}

// TTL is the lifetime of the tokens k issues: the longest a revocation has
// to be remembered.
func (k *Keys) TTL() time.Duration { return k.ttl }

// newSessionID mints a token's jti: 128 random bits, 22 base64url
// characters, so that ids never collide across instances without any
// coordination.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Issue signs a token for user, naming a fresh session (jti).
func (k *Keys) Issue(user schemas.ID, nickname string) (string, time.Time, error) {
	now := k.now()
	exp := now.Add(k.ttl)
	sid, err := newSessionID()
	if err != nil {
		return "", time.Time{}, err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Nick: nickname,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        sid,
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
		return k.checkRevoked(c)
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
	return k.checkRevoked(c)
}

// checkRevoked asks the revocations, if any, about a token whose signature
// and expiry passed.
func (k *Keys) checkRevoked(c Claims) (Claims, error) {
	if k.revoked == nil {
		return c, nil
	}
	if err := k.revoked.Check(c); err != nil {
		return Claims{}, err
	}
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
	out := Claims{UserID: id, Nickname: c.Nick, Expires: c.ExpiresAt.Time, SessionID: c.ID}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time
	}
	return out, nil
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

// Refusal is the contract's answer to a token Verify refused: 503 with
// Retry-After while the revocations are still being read (the token may be
// good: the client must keep it and retry), 401 otherwise, with one message
// for every reason (malformed, forged, expired, revoked) so that the answer
// tells a guesser nothing.
func Refusal(err error) *schemas.Error {
	if errors.Is(err, ErrNotReady) {
		return &schemas.Error{Code: schemas.CodeUnavailable, Message: "this server is still reading revoked tokens, retry", RetryAfter: time.Second}
	}
	return schemas.Errorf(schemas.CodeUnauthorized, "invalid, expired or revoked token")
}
