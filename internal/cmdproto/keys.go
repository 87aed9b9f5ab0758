package cmdproto

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// KeysHeader carries, on the answer to a send made by a realtime service
// on the internal listener (authenticated by its PresenceSecret), the data
// keys the message's texts were sealed under (docs/adr/0009): the realtime
// instance seeds its key cache with them, so its tail opens the message
// without a query to the key store (issue 16). The public listener never
// sends it. The value is a comma-separated list of
// key_id:message_id:secret, the secret in unpadded base64url.
const KeysHeader = "X-Happychat-Message-Keys"

// EncodeKeys is KeysHeader's value for keys.
func EncodeKeys(keys []msgkeys.Key) string {
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k.ID)
		b.WriteByte(':')
		b.WriteString(k.Message.String())
		b.WriteByte(':')
		b.WriteString(base64.RawURLEncoding.EncodeToString(k.Secret))
	}
	return b.String()
}

var errBadKeys = errors.New("malformed " + KeysHeader)

// DecodeKeys parses KeysHeader's value; "" is no keys.
func DecodeKeys(v string) ([]msgkeys.Key, error) {
	if v == "" {
		return nil, nil
	}
	var out []msgkeys.Key
	for item := range strings.SplitSeq(v, ",") {
		id, rest, ok1 := strings.Cut(item, ":")
		msg, secret, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || id == "" {
			return nil, errBadKeys
		}
		m, err := strconv.ParseInt(msg, 10, 64)
		if err != nil || m <= 0 {
			return nil, errBadKeys
		}
		s, err := base64.RawURLEncoding.DecodeString(secret)
		if err != nil || len(s) != 32 {
			return nil, errBadKeys
		}
		out = append(out, msgkeys.Key{ID: id, Message: schemas.ID(m), Secret: s})
	}
	return out, nil
}
