package token

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// MinAdminTokenLen is the shortest admin token a service accepts: 32
// characters, such as `openssl rand -hex 16`. The admin token is a bearer
// secret that anyone may try to guess over the public API, so it must
// carry at least 128 bits.
const MinAdminTokenLen = 32

// Admin recognises the operator's admin token (CHAT_ADMIN_TOKEN). It keeps
// only the token's SHA-256 digest and compares digests: both sides have the
// same fixed length, so the constant-time comparison leaks neither the
// secret's bytes nor its length (subtle.ConstantTimeCompare returns at once
// when the lengths differ). Every service compares the admin token here.
// The zero Admin matches nothing (no admin configured).
type Admin struct {
	digest [sha256.Size]byte
	set    bool
}

// NewAdmin returns the Admin of secret. An empty secret is a deployment
// without an admin; a secret shorter than MinAdminTokenLen is refused.
func NewAdmin(secret string) (Admin, error) {
	if secret == "" {
		return Admin{}, nil
	}
	if len(secret) < MinAdminTokenLen {
		return Admin{}, fmt.Errorf("the admin token must be at least %d characters (it has %d): generate one with `openssl rand -hex 32`", MinAdminTokenLen, len(secret))
	}
	return Admin{digest: sha256.Sum256([]byte(secret)), set: true}, nil
}

// Matches reports whether tok is the admin token.
func (a Admin) Matches(tok string) bool {
	if !a.set {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(d[:], a.digest[:]) == 1
}
