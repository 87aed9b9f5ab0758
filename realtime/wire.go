package realtime

import "encoding/binary"

// WebSocket opcodes (RFC 6455 §5.2) of the frames this server writes.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// wireFrame returns payload as one complete, unmasked server frame, header
// and payload in one slice. Event frames are encoded once and shared by
// every socket of the room; a socket's writer then hands the kernel all of
// its queued frames in one writev instead of one write per frame (the
// fan-out's cost is mostly system calls).
func wireFrame(op byte, payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n <= 125:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xFFFF:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x80 | op // FIN: never fragmented
	return append(b, payload...)
}

// wireHeaderLen is the header length wireFrame used for a payload of n
// bytes.
func wireHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}
