package command

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"happychat/schemas"
)

// A share code lets someone open a direct message with a user they cannot
// find in a member list (GET /v1/dms/share-code, then POST /v1/dms
// {share_code}). It carries the user's id and nickname, signed with the
// instances' internal secret, so the command service trusts both without a
// user store: base64url(id, 8 bytes big-endian, then the nickname) "."
// base64url(the first 12 bytes of HMAC-SHA256). It is not a secret (it
// names a user, like the ids in member lists); a forged one is refused. A
// renamed user's older codes still work, showing the older nickname until
// the room sees a member.renamed.

const shareMACBytes = 12

func shareMAC(secret string, payload []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	_, _ = m.Write([]byte("happychat share code\x00"))
	_, _ = m.Write(payload)
	return m.Sum(nil)[:shareMACBytes]
}

// ShareCode returns the caller's share code.
func (s *Service) ShareCode(c Caller) (string, error) {
	if err := c.needUser(); err != nil {
		return "", err
	}
	payload := binary.BigEndian.AppendUint64(nil, uint64(c.UserID))
	payload = append(payload, c.Nickname...)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(shareMAC(s.cfg.InternalSecret, payload)), nil
}

// readShareCode verifies a share code (with the current internal secret or
// one from before a rotation) and returns the user and nickname it names.
func (s *Service) readShareCode(code string) (schemas.ID, string, error) {
	bad := badRequest("share_code is not a share code of this service")
	p, m, ok := strings.Cut(code, ".")
	if !ok || len(code) > 512 {
		return 0, "", bad
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) <= 8 || len(mac) != shareMACBytes {
		return 0, "", bad
	}
	valid := false
	for _, secret := range append([]string{s.cfg.InternalSecret}, s.cfg.PreviousInternalSecrets...) {
		if hmac.Equal(mac, shareMAC(secret, payload)) {
			valid = true
			break
		}
	}
	user := schemas.ID(binary.BigEndian.Uint64(payload[:8]))
	nickname := string(payload[8:])
	if !valid || user <= 0 || !utf8.ValidString(nickname) {
		return 0, "", bad
	}
	return user, nickname, nil
}
