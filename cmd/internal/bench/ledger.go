package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strconv"
	"sync/atomic"
)

// States of a send in the ledger.
const (
	stFree    uint32 = iota // not due yet
	stSkipped               // due while its sender's socket still had 64 sends waiting (the server was not reading)
	stQueued                // handed to its sender's writer
	stWritten               // stamped and written (or being written) on the socket
	stAcked                 // the server's ack came back
	stRefused               // an error frame came back, or the write failed
)

// ledger has one entry per slot k of the schedule: who sent it, what became
// of it and which members of its room received it. A reader finds the entry
// from the client_msg_id (runTag) without a map; the scheduler writes room
// and slot before publishing k through scheduled, and a reader loads
// scheduled before reading them.
type ledger struct {
	sched   schedule
	members int // per room
	words   int // bitset words per send
	room    []int32
	slot    []int32 // the sender's index within its room
	state   []atomic.Uint32
	// written is the wall clock (Unix ns) just before the send's
	// WriteMessage: the end of the issue lag and the start of the server's
	// part.
	written []atomic.Int64
	// got has words bits per send: bit j is set once member j of the room
	// received it. It replaces a per-socket set of seen ids, which grew by
	// one string per delivery.
	got       []atomic.Uint64
	scheduled atomic.Int64
}

func newLedger(s schedule, members int) *ledger {
	words := (members + 63) / 64
	return &ledger{sched: s, members: members, words: words,
		room: make([]int32, s.total), slot: make([]int32, s.total), state: make([]atomic.Uint32, s.total),
		written: make([]atomic.Int64, s.total), got: make([]atomic.Uint64, s.total*int64(words))}
}

// receive marks send k as received by member slot of its room; false if
// that member had it already (a duplicate).
func (l *ledger) receive(k int64, slot int) bool {
	w, bit := k*int64(l.words)+int64(slot/64), uint64(1)<<(slot%64)
	return l.got[w].Or(bit)&bit == 0
}

// has reports whether member slot of k's room received k.
func (l *ledger) has(k int64, slot int) bool {
	return l.got[k*int64(l.words)+int64(slot/64)].Load()&(uint64(1)<<(slot%64)) != 0
}

// received is how many members of k's room received k.
func (l *ledger) received(k int64) int {
	n := 0
	for i := range l.words {
		n += bits.OnesCount64(l.got[k*int64(l.words)+int64(i)].Load())
	}
	return n
}

// settle moves k from queued or written to st (acked or refused); false if
// it was in neither (a late or repeated answer).
func (l *ledger) settle(k int64, st uint32) bool {
	for {
		cur := l.state[k].Load()
		if cur != stQueued && cur != stWritten {
			return false
		}
		if l.state[k].CompareAndSwap(cur, st) {
			return true
		}
	}
}

// runTag marks this run's sends: client_msg_id is a UUID-shaped string whose
// first 24 characters are random per run and whose last 12 are the slot k in
// hex, so a reader finds k with no lookup and ignores other runs' messages.
type runTag struct {
	prefix string
}

func newRunTag() (runTag, error) {
	var r [9]byte
	if _, err := rand.Read(r[:]); err != nil {
		return runTag{}, fmt.Errorf("run tag: %w", err)
	}
	h := hex.EncodeToString(r[:])
	return runTag{prefix: h[:8] + "-" + h[8:12] + "-4" + h[12:15] + "-8" + h[15:18] + "-"}, nil
}

// appendID appends the client_msg_id of slot k.
func (t runTag) appendID(b []byte, k int64) []byte {
	b = append(b, t.prefix...)
	h := strconv.FormatUint(uint64(k), 16)
	for range 12 - len(h) {
		b = append(b, '0')
	}
	return append(b, h...)
}

// index is the slot of a client_msg_id, or -1 if it is not this run's.
func (t runTag) index(id []byte) int64 {
	if len(id) != len(t.prefix)+12 || string(id[:len(t.prefix)]) != t.prefix {
		return -1
	}
	var k int64
	for _, c := range id[len(t.prefix):] {
		switch {
		case c >= '0' && c <= '9':
			k = k<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			k = k<<4 | int64(c-'a'+10)
		default:
			return -1
		}
	}
	return k
}
