package msgkeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"happychat/schemas"
)

// Key is one data key: ID names it in the sealed text, Message is the
// message whose delete destroys it (for a reply's preview, the original).
type Key struct {
	ID      string
	Message schemas.ID
	Secret  []byte // 32 bytes, AES-256
}

// New makes a fresh random key for message.
func New(message schemas.ID) (Key, error) {
	b := make([]byte, 16+32)
	if _, err := rand.Read(b); err != nil {
		return Key{}, fmt.Errorf("message key: %w", err)
	}
	return Key{ID: base64.RawURLEncoding.EncodeToString(b[:16]), Message: message, Secret: b[16:]}, nil
}

// Seal encrypts text under k. The key id is the additional data, so a
// ciphertext moved under another key id does not open.
func (k Key) Seal(text string) (*schemas.Sealed, error) {
	aead, err := gcm(k.Secret)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(text)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &schemas.Sealed{KeyID: k.ID, Ciphertext: aead.Seal(nonce, nonce, []byte(text), []byte(k.ID))}, nil
}

// errCorrupt is a sealed text that does not open under its key: tampered
// with, or sealed under another key.
var errCorrupt = errors.New("sealed text does not open under its key")

// open decrypts s with secret.
func open(secret []byte, s *schemas.Sealed) (string, error) {
	aead, err := gcm(secret)
	if err != nil {
		return "", err
	}
	n := aead.NonceSize()
	if len(s.Ciphertext) < n+aead.Overhead() {
		return "", errCorrupt
	}
	b, err := aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], []byte(s.KeyID))
	if err != nil {
		return "", fmt.Errorf("key %s: %w", s.KeyID, errCorrupt)
	}
	return string(b), nil
}

func gcm(secret []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, fmt.Errorf("message key: %w", err)
	}
	return cipher.NewGCM(block)
}
