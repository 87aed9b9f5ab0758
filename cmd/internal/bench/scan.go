package bench

import "time"

// A minimal allocation-free walk over the server's frames (after
// ../shared/peers/limits/jsonscan.go). Every frame of a 20 k deliveries/s
// run is read by this process, which shares two cores with the server and
// the broker: a reflective decode allocates the frame's strings and costs
// several µs a frame, this a fraction of one. It follows the structure (a key
// is matched only at its own level, so a user's text cannot be taken for a
// frame field).

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string opening at b[i], or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at or after b[i], or -1.
func skipValue(b []byte, i int) int {
	i = skipWS(b, i)
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j := skipString(b, i)
				if j < 0 {
					return -1
				}
				i = j - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	j := i // number, true, false, null
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// members calls fn(key, raw value) for each member of the object in b, in
// order. key is the raw key text between the quotes. It reports whether b
// held a well-formed object.
func members(b []byte, fn func(key, val []byte)) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	if i = skipWS(b, i+1); i < len(b) && b[i] == '}' {
		return true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		j := skipString(b, i)
		if j < 0 {
			return false
		}
		key := b[i+1 : j-1]
		if i = skipWS(b, j); i >= len(b) || b[i] != ':' {
			return false
		}
		vs := skipWS(b, i+1)
		ve := skipValue(b, vs)
		if ve < 0 {
			return false
		}
		fn(key, b[vs:ve])
		if i = skipWS(b, ve); i >= len(b) {
			return false
		}
		switch b[i] {
		case '}':
			return true
		case ',':
			i = skipWS(b, i+1)
		default:
			return false
		}
	}
}

// jsonStr returns the raw text of a string value. Escapes are left as they
// are: the fields read here (types, ids, times) never need them.
func jsonStr(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// jsonInt parses a non-negative integer value (a seq).
func jsonInt(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var x int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int64(c-'0')
	}
	return x, true
}

// scanned is what the tallies need of one frame.
type scanned struct {
	typ  []byte // the frame's type
	cmid []byte // the top-level client_msg_id (ack, error)
	seq  int64  // the top-level seq (member_joined, member_left, room_event)
	// The message of a message frame: its seq, client_msg_id and sent_at.
	msgSeq  int64
	msgCMID []byte
	sentAt  []byte
}

// scanFrame fills f from one frame; the slices point into data. It reports
// whether data is a well-formed object.
func scanFrame(data []byte, f *scanned) bool {
	*f = scanned{}
	var msg []byte
	ok := members(data, func(k, v []byte) {
		switch string(k) {
		case "type":
			f.typ, _ = jsonStr(v)
		case "message":
			msg = v
		case "client_msg_id":
			f.cmid, _ = jsonStr(v)
		case "seq":
			f.seq, _ = jsonInt(v)
		}
	})
	if !ok || msg == nil || string(f.typ) != typeMessage {
		return ok
	}
	return members(msg, func(k, v []byte) {
		switch string(k) {
		case "seq":
			f.msgSeq, _ = jsonInt(v)
		case "client_msg_id":
			f.msgCMID, _ = jsonStr(v)
		case "sent_at":
			f.sentAt, _ = jsonStr(v)
		}
	})
}

const typeMessage = "message"

// parseWireTime reads a wire timestamp (schemas.TimeLayout, RFC 3339 with
// milliseconds in UTC: 2006-01-02T15:04:05.000Z) as Unix nanoseconds
// without allocating; any other RFC 3339 form goes through time.Parse.
func parseWireTime(b []byte) (int64, bool) {
	if len(b) == 24 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == '.' && b[23] == 'Z' {
		num := func(i, n int) (int, bool) {
			x := 0
			for _, c := range b[i : i+n] {
				if c < '0' || c > '9' {
					return 0, false
				}
				x = x*10 + int(c-'0')
			}
			return x, true
		}
		y, ok1 := num(0, 4)
		mo, ok2 := num(5, 2)
		d, ok3 := num(8, 2)
		h, ok4 := num(11, 2)
		mi, ok5 := num(14, 2)
		s, ok6 := num(17, 2)
		ms, ok7 := num(20, 3)
		if ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 {
			return time.Date(y, time.Month(mo), d, h, mi, s, ms*int(time.Millisecond), time.UTC).UnixNano(), true
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}
