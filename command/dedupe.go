package command

import (
	"encoding/binary"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/cespare/xxhash/v2"

	"happychat/schemas"
)

// Idempotent sends at any age, in bounded memory.
//
// The owner of a partition keeps the sends of a recent window in full (by
// time, CHAT_DEDUPE_WINDOW, and by count, CHAT_DEDUPE_WINDOW_ENTRIES per
// partition): a retry inside it is answered from memory, and checking a new
// send costs one map lookup. Sends leave the window only through the
// snapshot writer, which first stores their key hash and log offset in
// PostgreSQL (command_dedupe) and adds the hash to the partition's Bloom
// filter, in the same transaction as the snapshot. A send missing from the
// window is looked up durably only when the Bloom filter says it may be old
// (about 1% of new sends): the offsets stored for its hash are read back from
// the log and compared in full. When that lookup cannot be answered the send
// is refused (503) rather than risk a duplicate.

// sentKey identifies a send for idempotency: the same user retrying the same
// client_msg_id in the same room gets the original message back.
type sentKey struct {
	room        schemas.ID
	user        schemas.ID
	clientMsgID string
}

// hash is the key's durable hash: stored in PostgreSQL and the Bloom
// filter, so it must never change (xxhash64 of a fixed layout).
func (k sentKey) hash() int64 {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(k.room))
	binary.BigEndian.PutUint64(b[8:], uint64(k.user))
	d := xxhash.New()
	_, _ = d.Write(b[:])
	_, _ = d.WriteString(k.clientMsgID)
	return int64(d.Sum64())
}

func hashBytes(h int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(h))
	return b[:]
}

// sent is what a retried send must answer with, and where it is in the log.
type sent struct {
	id       schemas.ID
	seq      int64
	text     string
	nickname string
	at       time.Time
	off      int64 // offset of the message.sent record
	deleted  bool  // text scrubbed (a deleted message)
}

// window holds the recent sends of one partition in log order.
type window struct {
	entries map[sentKey]sent
	order   []sentKey // in offset order from head
	head    int
	bytes   int // approximate memory held by the entries
}

// entryBytes approximates what one send holds in the window: its strings
// and the map and order slots.
func entryBytes(k sentKey, s sent) int {
	return len(k.clientMsgID) + len(s.text) + len(s.nickname) + 160
}

func newWindow() *window { return &window{entries: map[sentKey]sent{}} }

func (w *window) get(k sentKey) (sent, bool) {
	s, ok := w.entries[k]
	return s, ok
}

// add records a send; adding the same key again (a replay) keeps the first.
func (w *window) add(k sentKey, s sent) {
	if _, ok := w.entries[k]; ok {
		return
	}
	w.entries[k] = s
	w.order = append(w.order, k)
	w.bytes += entryBytes(k, s)
}

func (w *window) len() int { return len(w.entries) }

// scrub forgets the text of a deleted message: a retry of its send then
// answers the tombstone. The snapshots written before keep it until they
// are replaced (docs/adr/0009).
func (w *window) scrub(k sentKey) {
	if s, ok := w.entries[k]; ok && s.text != "" {
		w.bytes -= len(s.text)
		s.text, s.deleted = "", true
		w.entries[k] = s
	}
}

// evictable returns the oldest sends that must leave the window: older than
// cutoff, or beyond max entries or maxBytes (long messages must not make
// the window big).
func (w *window) evictable(cutoff time.Time, max, maxBytes int) []evicted {
	var out []evicted
	n, b := len(w.entries), w.bytes
	for i := w.head; i < len(w.order); i++ {
		k := w.order[i]
		s := w.entries[k]
		if n-len(out) <= max && b <= maxBytes && !s.at.Before(cutoff) {
			break
		}
		b -= entryBytes(k, s)
		out = append(out, evicted{hash: k.hash(), off: s.off})
	}
	return out
}

// evictThrough drops the sends at offsets up to off (they are durable).
func (w *window) evictThrough(off int64) {
	for w.head < len(w.order) {
		k := w.order[w.head]
		s := w.entries[k]
		if s.off > off {
			break
		}
		w.bytes -= entryBytes(k, s)
		delete(w.entries, k)
		w.order[w.head] = sentKey{}
		w.head++
	}
	// Compact the order slice once its dead prefix dominates.
	if w.head > 1024 && w.head*2 > len(w.order) {
		w.order = append([]sentKey(nil), w.order[w.head:]...)
		w.head = 0
	}
}

// list returns the window's sends in log order (for a snapshot).
func (w *window) list() []windowEntry {
	out := make([]windowEntry, 0, len(w.entries))
	for i := w.head; i < len(w.order); i++ {
		k := w.order[i]
		out = append(out, windowEntry{key: k, sent: w.entries[k]})
	}
	return out
}

type windowEntry struct {
	key  sentKey
	sent sent
}

// evicted is a send leaving the window: what the durable store keeps.
type evicted struct {
	hash int64
	off  int64
}

// Bloom chunks hold a bounded number of keys each, so that a snapshot
// rewrites only the open chunk (about 150 KiB) and sealed chunks never
// change.
const (
	bloomChunkKeys = 1 << 17
	bloomFPRate    = 0.01
)

// bloomSet is a partition's Bloom filter of evicted sends. A value is never
// modified once shared: with copies the open chunk and returns a new set.
type bloomSet struct {
	chunks []*bloom.BloomFilter
	counts []int
}

func newBloomChunk() *bloom.BloomFilter {
	return bloom.NewWithEstimates(bloomChunkKeys, bloomFPRate)
}

// mayContain reports whether h may have been evicted (false: certainly not).
func (b *bloomSet) mayContain(h int64) bool {
	if b == nil {
		return false
	}
	key := hashBytes(h)
	for _, c := range b.chunks {
		if c.Test(key) {
			return true
		}
	}
	return false
}

// with returns the set with hashes added, and the indexes of the chunks that
// changed (the ones a store must write).
func (b *bloomSet) with(hashes []int64) (*bloomSet, []int) {
	n := &bloomSet{}
	if b != nil {
		n.chunks = append(n.chunks, b.chunks...)
		n.counts = append(n.counts, b.counts...)
	}
	var changed []int
	copied := -1
	for _, h := range hashes {
		last := len(n.chunks) - 1
		if last < 0 || n.counts[last] >= bloomChunkKeys {
			n.chunks = append(n.chunks, newBloomChunk())
			n.counts = append(n.counts, 0)
			last++
			copied = last
			changed = append(changed, last)
		} else if copied != last {
			n.chunks[last] = n.chunks[last].Copy()
			copied = last
			changed = append(changed, last)
		}
		n.chunks[last].Add(hashBytes(h))
		n.counts[last]++
	}
	return n, changed
}

// dedupe is an owner's idempotency state for its partition.
type dedupe struct {
	win   *window
	bloom *bloomSet
	// pos is the log offset up to which every send of the partition is in
	// win, the Bloom filter or the durable store.
	pos int64
	// msgs is the recent messages' state (messages.go), kept at the same
	// offset: every message of the partition up to pos is in it or in
	// command_messages (or predates this build).
	msgs *msgTable
}
