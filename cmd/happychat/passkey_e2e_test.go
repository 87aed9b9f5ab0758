package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"happychat/schemas"
)

// softKey is a passkey held in the test: what a platform authenticator
// does for the browser (WebAuthn level 3, "none" attestation, ES256),
// enough to drive the ceremonies over HTTP without a browser and to forge
// the hostile variants.
type softKey struct {
	id     []byte
	key    *ecdsa.PrivateKey
	user   []byte // the user handle the registration named
	origin string
	rpID   string
	count  uint32
}

var b64 = base64.RawURLEncoding

func newSoftKey(t *testing.T, origin string) *softKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softKey{id: id, key: k, origin: origin, rpID: "localhost"}
}

// passkeyOptions is the part of a begin's answer the authenticator reads.
type passkeyOptions struct {
	ChallengeID string `json:"challenge_id"`
	Options     struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	} `json:"options"`
}

func (k *softKey) clientData(t *testing.T, typ, challenge, origin string) []byte {
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (k *softKey) authData(flags byte, attested []byte) []byte {
	rp := sha256.Sum256([]byte(k.rpID))
	out := append([]byte{}, rp[:]...)
	out = append(out, flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

// create answers a registration's options (navigator.credentials.create).
func (k *softKey) create(t *testing.T, o passkeyOptions, origin string) map[string]any {
	t.Helper()
	user, err := b64.DecodeString(o.Options.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.Options.PublicKey.User.ID, err)
	}
	k.user = user
	point, err := k.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	x, y := point[1:33], point[33:]
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: zero for "none" attestation
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	const up, uv, at = 0x01, 0x04, 0x40
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(up|uv|at, attested)})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData(t, "webauthn.create", o.Options.PublicKey.Challenge, origin)),
			"attestationObject": b64.EncodeToString(att),
		},
		"clientExtensionResults": map[string]any{},
	}
}

// get answers a sign-in's options (navigator.credentials.get).
func (k *softKey) get(t *testing.T, o passkeyOptions) map[string]any {
	t.Helper()
	k.count++
	const up, uv = 0x01, 0x04
	ad := k.authData(up|uv, nil)
	cd := k.clientData(t, "webauthn.get", o.Options.PublicKey.Challenge, k.origin)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.user),
		},
		"clientExtensionResults": map[string]any{},
	}
}

// TestPasskeysE2E drives the passkey ceremonies on happychat dev (real
// Kafka and PostgreSQL) with a software authenticator: a nickname user
// registers a passkey and gets eight recovery codes; the passkey signs the
// same user in (same id, its current name after a rename); a recovery code
// does once. And the hostile cases of docs/hostile-inputs.md: a replayed
// registration or sign-in (the challenge is single use), an answer made
// for another origin, a forged signature, an oversized attestation, and a
// challenge of one ceremony used for the other, each refused with the
// error envelope and nothing stored.
func TestPasskeysE2E(t *testing.T) {
	const origin = "http://localhost:8443"
	s := startRealtimeDev(t, map[string]string{"CHAT_WEBAUTHN_RP_ID": "localhost", "CHAT_WEBAUTHN_ORIGINS": origin})
	u := s.session("달님")
	key := newSoftKey(t, origin)

	begin := func(path, tok string) passkeyOptions {
		t.Helper()
		var o passkeyOptions
		if st, _, b := s.call("POST", path, path, tok, map[string]any{}, &o); st != http.StatusOK {
			t.Fatalf("%s: %d %s", path, st, b)
		}
		if o.ChallengeID == "" || o.Options.PublicKey.Challenge == "" {
			t.Fatalf("%s answered no challenge: %+v", path, o)
		}
		return o
	}
	finish := func(path, tok, challenge string, cred any) (int, []byte) {
		t.Helper()
		st, _, b := s.call("POST", path, path, tok, map[string]any{"challenge_id": challenge, "credential": cred}, nil)
		return st, b
	}
	wantRefused := func(what string, st int, b []byte, status int, part string) {
		t.Helper()
		if st != status || !strings.Contains(string(b), part) {
			t.Fatalf("%s: %d %s, want %d naming %q", what, st, b, status, part)
		}
	}

	// Registration answered for another origin: refused, challenge spent.
	o := begin("/v1/passkeys/register/begin", u.Token)
	if o.Options.PublicKey.RP.ID != "localhost" {
		t.Fatalf("rp.id %q, want localhost", o.Options.PublicKey.RP.ID)
	}
	st, b := finish("/v1/passkeys/register/finish", u.Token, o.ChallengeID, key.create(t, o, "https://evil.example"))
	wantRefused("another origin", st, b, http.StatusBadRequest, "origin")
	st, b = finish("/v1/passkeys/register/finish", u.Token, o.ChallengeID, key.create(t, o, origin))
	wantRefused("the spent challenge", st, b, http.StatusBadRequest, "challenge_id is unknown, already used or expired")

	// An attestation past the body limit never reaches the library.
	o = begin("/v1/passkeys/register/begin", u.Token)
	huge := key.create(t, o, origin)
	huge["response"].(map[string]any)["attestationObject"] = strings.Repeat("A", 70<<10)
	st, b = finish("/v1/passkeys/register/finish", u.Token, o.ChallengeID, huge)
	wantRefused("an oversized attestation", st, b, http.StatusRequestEntityTooLarge, `"code":"payload_too_large"`)

	// The registration, then its replay.
	o = begin("/v1/passkeys/register/begin", u.Token)
	reg := key.create(t, o, origin)
	var done struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	if st, _, b := s.call("POST", "/v1/passkeys/register/finish", "/v1/passkeys/register/finish", u.Token,
		map[string]any{"challenge_id": o.ChallengeID, "credential": reg}, &done); st != http.StatusCreated {
		t.Fatalf("register: %d %s", st, b)
	}
	if len(done.RecoveryCodes) != 8 || string(key.user) != u.UserID.String() {
		t.Fatalf("registered with %d recovery codes under handle %q, want 8 under %s", len(done.RecoveryCodes), key.user, u.UserID)
	}
	st, b = finish("/v1/passkeys/register/finish", u.Token, o.ChallengeID, reg)
	wantRefused("a replayed registration", st, b, http.StatusBadRequest, "challenge_id is unknown, already used or expired")

	// A registration challenge does not finish a sign-in.
	o = begin("/v1/passkeys/register/begin", u.Token)
	st, b = finish("/v1/passkeys/login/finish", "", o.ChallengeID, key.get(t, o))
	wantRefused("a registration challenge at the sign-in", st, b, http.StatusBadRequest, "challenge_id is unknown")

	// Rename first: the passkey signs in under the current name.
	var renamed schemas.Session
	if st, _, b := s.call("PATCH", "/v1/sessions/current", "/v1/sessions/current", u.Token, map[string]string{"nickname": "햇님"}, &renamed); st != http.StatusOK {
		t.Fatalf("rename: %d %s", st, b)
	}

	// A forged signature, then the sign-in, then its replay.
	o = begin("/v1/passkeys/login/begin", "")
	forged := key.get(t, o)
	forged["response"].(map[string]any)["signature"] = b64.EncodeToString([]byte("not a signature"))
	st, b = finish("/v1/passkeys/login/finish", "", o.ChallengeID, forged)
	wantRefused("a forged signature", st, b, http.StatusUnauthorized, "signature")

	o = begin("/v1/passkeys/login/begin", "")
	login := key.get(t, o)
	var sess schemas.Session
	if st, _, b := s.call("POST", "/v1/passkeys/login/finish", "/v1/passkeys/login/finish", "",
		map[string]any{"challenge_id": o.ChallengeID, "credential": login}, &sess); st != http.StatusCreated {
		t.Fatalf("sign in: %d %s", st, b)
	}
	if sess.UserID != u.UserID || sess.Nickname != "햇님" || sess.Token == "" {
		t.Fatalf("signed in as %+v, want user %d as 햇님", sess, u.UserID)
	}
	if st, _, b := s.call("GET", "/v1/rooms", "/v1/rooms", sess.Token, nil, nil); st != http.StatusOK {
		t.Fatalf("the passkey's session: %d %s", st, b)
	}
	st, b = finish("/v1/passkeys/login/finish", "", o.ChallengeID, login)
	wantRefused("a replayed sign-in", st, b, http.StatusBadRequest, "challenge_id is unknown, already used or expired")

	// Recovery: once per code, typed loosely.
	var rec schemas.Session
	typed := strings.ToUpper(strings.ReplaceAll(done.RecoveryCodes[3], "-", " "))
	if st, _, b := s.call("POST", "/v1/passkeys/recover", "/v1/passkeys/recover", "", map[string]string{"code": typed}, &rec); st != http.StatusCreated {
		t.Fatalf("recover: %d %s", st, b)
	}
	if rec.UserID != u.UserID || rec.Nickname != "햇님" {
		t.Fatalf("recovered %+v, want user %d as 햇님", rec, u.UserID)
	}
	st, _, b = s.call("POST", "/v1/passkeys/recover", "/v1/passkeys/recover", "", map[string]string{"code": done.RecoveryCodes[3]}, nil)
	wantRefused("a used recovery code", st, b, http.StatusUnauthorized, "unknown or was used already")
	st, _, b = s.call("POST", "/v1/passkeys/recover", "/v1/passkeys/recover", "", map[string]string{"code": strings.Repeat("x", 33)}, nil)
	wantRefused("a code too long", st, b, http.StatusBadRequest, "code is longer than 32 characters")
}
