package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/hkdf"

	"happychat/projector/notifier"
)

// pushService is a push service of the tests' own (RFC 8030): every
// subscription is a path of it with a browser's key pair and auth secret.
// It checks each push's VAPID token (RFC 8292: ES256 by the notifier's
// public key, aud = this origin, exp ahead, a sub), decrypts the body
// (RFC 8291, aes128gcm) with the subscription's private key, and keeps
// what it read.
type pushService struct {
	t     *testing.T
	srv   *httptest.Server
	vapid *ecdsa.PublicKey
	mu    sync.Mutex
	subs  map[string]*browserSub
}

// browserSub is one browser's subscription: its keys, the status the
// service answers, and the pushes received.
type browserSub struct {
	name     string
	key      *ecdh.PrivateKey
	auth     []byte
	status   int
	requests int
	got      []pushPayload
}

// pushPayload is what the notifier puts in a push.
type pushPayload = notifier.Payload

func newPushService(t *testing.T, vapidPublic string) *pushService {
	raw, err := base64.RawURLEncoding.DecodeString(vapidPublic)
	if err != nil {
		t.Fatalf("VAPID key %q: %v", vapidPublic, err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		t.Fatalf("VAPID key: %v", err)
	}
	ps := &pushService{t: t, vapid: pub, subs: map[string]*browserSub{}}
	ps.srv = httptest.NewServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.srv.Close)
	return ps
}

// subscribe makes a browser subscription named name answering status.
func (ps *pushService) subscribe(name string, status int) (*browserSub, map[string]any) {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		ps.t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	b := &browserSub{name: name, key: key, auth: auth, status: status}
	ps.mu.Lock()
	ps.subs[name] = b
	ps.mu.Unlock()
	// What PushSubscription.toJSON() gives.
	return b, map[string]any{
		"endpoint": ps.srv.URL + "/push/" + name, "expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(auth),
		},
	}
}

// received returns a copy of what sub got, and how many requests came.
func (ps *pushService) received(sub *browserSub) ([]pushPayload, int) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]pushPayload(nil), sub.got...), sub.requests
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	name, _ := strings.CutPrefix(r.URL.Path, "/push/")
	ps.mu.Lock()
	sub := ps.subs[name]
	ps.mu.Unlock()
	if sub == nil || r.Method != http.MethodPost {
		ps.t.Errorf("push service: %s %s: no such subscription", r.Method, r.URL.Path)
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	p, err := ps.check(r, body, sub)
	if err != nil {
		ps.t.Errorf("push service: push to %s: %v", name, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ps.mu.Lock()
	sub.requests++
	status := sub.status
	if status < 300 {
		sub.got = append(sub.got, p)
	}
	ps.mu.Unlock()
	w.WriteHeader(status)
}

// check verifies the RFC 8030 request and its VAPID token, and decrypts it.
func (ps *pushService) check(r *http.Request, body []byte, sub *browserSub) (pushPayload, error) {
	var p pushPayload
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		return p, fmt.Errorf("Content-Encoding %q, want aes128gcm", r.Header.Get("Content-Encoding"))
	}
	if ttl := r.Header.Get("TTL"); ttl == "" || ttl == "0" {
		return p, fmt.Errorf("TTL %q: want a positive TTL", ttl)
	}
	if u := r.Header.Get("Urgency"); u != "normal" && u != "high" {
		return p, fmt.Errorf("Urgency %q", u)
	}
	if err := ps.checkVAPID(r.Header.Get("Authorization")); err != nil {
		return p, err
	}
	plain, err := decryptPush(body, sub.key, sub.auth)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, fmt.Errorf("payload %q: %w", plain, err)
	}
	return p, nil
}

// checkVAPID checks "vapid t=<JWT>, k=<public key>" (RFC 8292, section 3).
func (ps *pushService) checkVAPID(h string) error {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return fmt.Errorf("Authorization %q is not vapid", h)
	}
	var tok, k string
	for part := range strings.SplitSeq(rest, ",") {
		name, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			tok = v
		case "k":
			k = v
		}
	}
	want, _ := ps.vapid.Bytes()
	if raw, err := base64.RawURLEncoding.DecodeString(k); err != nil || !bytes.Equal(raw, want) {
		return fmt.Errorf("vapid k=%q is not the notifier's public key", k)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return ps.vapid, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(ps.srv.URL), jwt.WithExpirationRequired())
	if err != nil {
		return fmt.Errorf("VAPID JWT: %w", err)
	}
	if exp, _ := claims.GetExpirationTime(); exp == nil || !exp.After(time.Now()) || exp.After(time.Now().Add(24*time.Hour)) {
		return fmt.Errorf("VAPID exp %v: want within 24 h ahead (RFC 8292)", exp)
	}
	if sub, _ := claims.GetSubject(); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https://") {
		return fmt.Errorf("VAPID sub %q: want a mailto: or https: contact", sub)
	}
	return nil
}

// decryptPush undoes RFC 8291 (on RFC 8188's aes128gcm) as a browser does.
func decryptPush(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	// Header: salt (16) | record size (4) | key id length (1) | key id.
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("key id of %d bytes: want the sender's 65-byte public key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, fmt.Errorf("sender's key: %w", err)
	}
	ciphertext := body[21+idlen:]
	if len(ciphertext) == 0 || uint32(len(ciphertext)) > rs {
		return nil, fmt.Errorf("one record of %d bytes, record size %d", len(ciphertext), rs)
	}
	secret, err := ua.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	// IKM = HKDF(auth, ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32).
	info := slices.Concat([]byte("WebPush: info\x00"), ua.PublicKey().Bytes(), asPub.Bytes())
	ikm := expand(hkdf.New(sha256.New, secret, auth, info), 32)
	prk := hkdf.Extract(sha256.New, ikm, salt)
	cek := expand(hkdf.Expand(sha256.New, prk, []byte("Content-Encoding: aes128gcm\x00")), 16)
	nonce := expand(hkdf.Expand(sha256.New, prk, []byte("Content-Encoding: nonce\x00")), 12)
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// The last (only) record ends with the delimiter 0x02, then padding zeros.
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:len(plain)-1], nil
}

func expand(r io.Reader, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		panic(err)
	}
	return b
}
