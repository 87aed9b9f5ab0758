package token

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"happychat/schemas"
)

const (
	secret      = "0123456789abcdef-test-secret"
	otherSecret = "fedcba9876543210-other-secret"
	user        = schemas.ID(1995793265123459072)
)

var t0 = time.Date(2026, 11, 22, 21, 21, 13, 0, time.UTC)

func keysAt(t *testing.T, s string, now time.Time) *Keys {
	t.Helper()
	k, err := New(s, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return k.WithClock(func() time.Time { return now })
}

func TestIssueVerify(t *testing.T) {
	k := keysAt(t, secret, t0)
	tok, exp, err := k.Issue(user, "토끼 🐰")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(t0.Add(time.Hour)) {
		t.Errorf("expiry = %v, want %v", exp, t0.Add(time.Hour))
	}
	for _, at := range []time.Time{t0, t0.Add(59 * time.Minute)} {
		c, err := keysAt(t, secret, at).Verify(tok)
		if err != nil {
			t.Fatalf("Verify at %v: %v", at, err)
		}
		if c.UserID != user || c.Nickname != "토끼 🐰" || !c.Expires.Equal(exp) {
			t.Errorf("claims = %+v", c)
		}
	}
}

// sign builds a token with arbitrary claims and method, to forge what an
// attacker could send.
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims() jwtClaims {
	return jwtClaims{Nick: "n", RegisteredClaims: jwt.RegisteredClaims{
		Issuer: issuer, Subject: user.String(),
		IssuedAt: jwt.NewNumericDate(t0), ExpiresAt: jwt.NewNumericDate(t0.Add(time.Hour)),
	}}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRejects(t *testing.T) {
	k := keysAt(t, secret, t0.Add(time.Minute))
	good, _, err := keysAt(t, secret, t0).Issue(user, "n")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*jwtClaims)) jwtClaims { c := goodClaims(); f(&c); return c }
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	otherTok, _, _ := keysAt(t, otherSecret, t0).Issue(user, "n")
	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		tok  string
	}{
		{"empty", ""},
		{"garbage", "not a token"},
		{"one part", "abc"},
		{"two parts", "abc.def"},
		{"four parts", good + ".x"},
		{"dots only", ".."},
		{"too long", parts[0] + "." + strings.Repeat("A", maxTokenLen) + "." + parts[2]},
		{"invalid UTF-8", parts[0] + ".\xff." + parts[2]},
		{"header not base64", "!!!." + parts[1] + "." + parts[2]},
		{"header not JSON", b64("nope") + "." + parts[1] + "." + parts[2]},
		{"expired", func() string { s, _, _ := keysAt(t, secret, t0.Add(-2*time.Hour)).Issue(user, "n"); return s }()},
		{"forged signature", parts[0] + "." + parts[1] + "." + flip(parts[2], 10)},
		{"signature dropped", parts[0] + "." + parts[1] + "."},
		{"signed with another secret", otherTok},
		{"alg none", noneTok},
		{"alg none, uppercase", b64(`{"alg":"NONE","typ":"JWT"}`) + "." + parts[1] + "."},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, []byte(secret), goodClaims())},
		{"HS384 with the right secret", sign(t, jwt.SigningMethodHS384, []byte(secret), goodClaims())},
		{"RS256 properly signed", sign(t, jwt.SigningMethodRS256, rsaKey, goodClaims())},
		{"RS256 header over an HMAC signature", b64(`{"alg":"RS256","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]},
		{"tampered payload", parts[0] + "." + b64(`{"nick":"n","iss":"happychat","sub":"1","exp":9999999999}`) + "." + parts[2]},
		{"tampered header", b64(`{"alg":"HS256","typ":"JWT","kid":"x"}`) + "." + parts[1] + "." + parts[2]},
		{"no expiry", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.ExpiresAt = nil }))},
		{"other issuer", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.Issuer = "evil" }))},
		{"no issuer", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.Issuer = "" }))},
		{"subject not an id", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.Subject = "admin" }))},
		{"subject zero", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.Subject = "0" }))},
		{"subject missing", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.Subject = "" }))},
		{"not valid yet", sign(t, jwt.SigningMethodHS256, []byte(secret), with(func(c *jwtClaims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)) }))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := k.Verify(c.tok)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if got != (Claims{}) {
				t.Errorf("claims returned with an error: %+v", got)
			}
		})
	}
}

func TestNew(t *testing.T) {
	cases := []struct {
		name   string
		secret string
		ttl    time.Duration
		ok     bool
	}{
		{"short secret", "short", time.Hour, false},
		{"secret of 15 bytes", secret[:15], time.Hour, false},
		{"secret of 16 bytes", secret[:16], time.Hour, true},
		{"zero ttl", secret, 0, false},
		{"negative ttl", secret, -time.Second, false},
		{"shortest ttl", secret, time.Nanosecond, true},
	}
	for _, c := range cases {
		k, err := New(c.secret, c.ttl)
		if (err == nil) != c.ok {
			t.Errorf("%s: New(%q, %v) error = %v, want ok = %v", c.name, c.secret, c.ttl, err, c.ok)
		}
		if err == nil && k == nil {
			t.Errorf("%s: New returned nil keys without an error", c.name)
		}
	}
}

// TestVerifyLengthLimit: a valid token of exactly maxTokenLen bytes is
// accepted; a longer one is refused before any parsing.
func TestVerifyLengthLimit(t *testing.T) {
	k := keysAt(t, secret, t0)
	issue := func(nickLen int) string {
		t.Helper()
		tok, _, err := k.Issue(user, strings.Repeat("n", nickLen))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// The token grows with the nickname by one or two bytes at a time, so
	// some nickname length gives exactly maxTokenLen.
	n := 0
	for len(issue(n)) < maxTokenLen {
		n++
	}
	atLimit := issue(n)
	if len(atLimit) != maxTokenLen {
		t.Fatalf("no nickname length gives a token of %d bytes (%d gives %d)", maxTokenLen, n, len(atLimit))
	}
	if c, err := k.Verify(atLimit); err != nil || c.UserID != user {
		t.Errorf("token of %d bytes: %+v, %v", len(atLimit), c, err)
	}
	if over := issue(n + 1); len(over) <= maxTokenLen {
		t.Fatalf("token of nickname %d is %d bytes, not above the limit", n+1, len(over))
	} else if _, err := k.Verify(over); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of %d bytes: %v, want ErrInvalid", len(over), err)
	}
}

func TestFromHeader(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc ", "abc", true},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearer", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"", "", false},
		{"Token abc", "", false},
	}
	for _, c := range cases {
		got, ok := FromHeader(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("FromHeader(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestCachedTokenStillExpires checks that a token verified once (and so
// cached) is refused once its expiry passes.
func TestCachedTokenStillExpires(t *testing.T) {
	now := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	base, err := New("0123456789abcdef0123", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k := base.WithClock(func() time.Time { return now })
	tok, _, err := k.Issue(42, "cached")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if c, err := k.Verify(tok); err != nil || c.UserID != 42 {
			t.Fatalf("fresh token: %v %+v", err, c)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, err := k.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired cached token: %v", err)
	}
}

// TestCacheClearedWhenFull: the cache of verified tokens holds up to
// maxCached entries and is cleared when a new token would exceed that.
func TestCacheClearedWhenFull(t *testing.T) {
	k := keysAt(t, secret, t0)
	tokens := make([]string, 2)
	for i := range tokens {
		tok, _, err := k.Issue(user+schemas.ID(i), "n")
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	for i := range maxCached - 1 {
		k.cache.m[strconv.Itoa(i)] = Claims{}
	}
	if _, err := k.Verify(tokens[0]); err != nil {
		t.Fatal(err)
	}
	if n := len(k.cache.m); n != maxCached {
		t.Fatalf("cache one below full: %d entries after a new token, want %d", n, maxCached)
	}
	if _, err := k.Verify(tokens[1]); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.cache.m[tokens[1]]; !ok || len(k.cache.m) != 1 {
		t.Fatalf("full cache: %d entries after a new token, want only that token", len(k.cache.m))
	}
}

// TestRotation: new tokens name the current key; tokens of a previous key
// still verify after a rotation, tokens of a retired key do not; tokens
// without a kid (issued before kids existed) verify against the current key
// only.
func TestRotation(t *testing.T) {
	const (
		k1 = "first-key-0123456789abcdef"
		k2 = "second-key-0123456789abcdef"
	)
	before := keysAt(t, k1, t0)
	tok1, _, err := before.Issue(user, "n")
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, tok1); h["kid"] != KeyID(k1) || h["kid"] == "" || strings.Contains(tok1, k1) {
		t.Fatalf("header %v, want kid %s", h, KeyID(k1))
	}
	rotated, err := New(k2, time.Hour, k1)
	if err != nil {
		t.Fatal(err)
	}
	rotated = rotated.WithClock(func() time.Time { return t0 })
	tok2, _, err := rotated.Issue(user, "n")
	if err != nil {
		t.Fatal(err)
	}
	if h := header(t, tok2); h["kid"] != KeyID(k2) {
		t.Fatalf("a rotated key signs with kid %v, want %s", h["kid"], KeyID(k2))
	}
	for name, tok := range map[string]string{"previous key": tok1, "current key": tok2} {
		if c, err := rotated.Verify(tok); err != nil || c.UserID != user {
			t.Errorf("%s: %+v, %v", name, c, err)
		}
	}
	retired := keysAt(t, k2, t0)
	if _, err := retired.Verify(tok1); !errors.Is(err, ErrInvalid) {
		t.Errorf("a retired key's token verified: %v", err)
	}
	// A token of the old format: no kid in its header.
	legacy := sign(t, jwt.SigningMethodHS256, []byte(k1), goodClaims())
	if _, ok := header(t, legacy)["kid"]; ok {
		t.Fatal("the legacy token has a kid")
	}
	if _, err := before.Verify(legacy); err != nil {
		t.Errorf("a token without kid does not verify against the current key: %v", err)
	}
	if _, err := rotated.Verify(legacy); !errors.Is(err, ErrInvalid) {
		t.Errorf("a token without kid verified against a previous key: %v", err)
	}
	// A kid naming the current key over another key's signature.
	parts := strings.Split(tok1, ".")
	forged := b64(`{"alg":"HS256","kid":"`+KeyID(k2)+`","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]
	if _, err := rotated.Verify(forged); !errors.Is(err, ErrInvalid) {
		t.Errorf("a swapped kid verified: %v", err)
	}
	if KeyID(k1) == KeyID(k2) || len(KeyID(k1)) != 12 {
		t.Fatalf("key ids %s %s", KeyID(k1), KeyID(k2))
	}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
