package cmdproto

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// CommittedHeader carries, on the answer to a send made by a realtime
// service on the internal listener (authenticated by its PresenceSecret),
// the records the send committed, exactly as the log holds them: the
// realtime instance hands them to its local delivery (realtime.Service's
// Committed), so the room's sockets get the message when the command is
// answered instead of after the tail's next fetch (issue 16). The answer
// comes only once the transaction committed, so nothing is shown before it
// is durable; the tail still reads every record, and the hub takes a local
// one only if it is the room's next seq. The public listener never sends
// it. The value is a comma-separated list of partition:offset:key:value,
// key and value in unpadded base64url.
const CommittedHeader = "X-Happychat-Committed"

// maxCommittedRecords bounds what DecodeRecords accepts: a send commits one
// record; a header with more is not this protocol.
const maxCommittedRecords = 16

// EncodeRecords is CommittedHeader's value for recs.
func EncodeRecords(recs []*kgo.Record) string {
	var b strings.Builder
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(r.Partition), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(r.Offset, 10))
		b.WriteByte(':')
		b.WriteString(base64.RawURLEncoding.EncodeToString(r.Key))
		b.WriteByte(':')
		b.WriteString(base64.RawURLEncoding.EncodeToString(r.Value))
	}
	return b.String()
}

var errBadRecords = errors.New("malformed " + CommittedHeader)

// DecodeRecords parses CommittedHeader's value; "" is no records.
func DecodeRecords(v string) ([]*kgo.Record, error) {
	if v == "" {
		return nil, nil
	}
	var out []*kgo.Record
	for item := range strings.SplitSeq(v, ",") {
		if len(out) == maxCommittedRecords {
			return nil, errBadRecords
		}
		f := strings.SplitN(item, ":", 4)
		if len(f) != 4 {
			return nil, errBadRecords
		}
		part, err := strconv.ParseInt(f[0], 10, 32)
		if err != nil || part < 0 {
			return nil, errBadRecords
		}
		off, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || off < 0 {
			return nil, errBadRecords
		}
		key, err := base64.RawURLEncoding.DecodeString(f[2])
		if err != nil || len(key) == 0 {
			return nil, errBadRecords
		}
		val, err := base64.RawURLEncoding.DecodeString(f[3])
		if err != nil || len(val) == 0 {
			return nil, errBadRecords
		}
		out = append(out, &kgo.Record{Partition: int32(part), Offset: off, Key: key, Value: val})
	}
	return out, nil
}
