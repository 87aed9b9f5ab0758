package command

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"happychat/schemas"
)

func TestSentKeyHashIsStable(t *testing.T) {
	// The hash is stored in PostgreSQL and the Bloom filters: changing it
	// would make every evicted send unfindable.
	k := sentKey{room: 7267000000000000001, user: 42, clientMsgID: "m-1"}
	if got, want := k.hash(), int64(7364178726484477195); got != want {
		t.Fatalf("hash %d, want %d", got, want)
	}
	if k.hash() == (sentKey{room: k.room, user: 43, clientMsgID: "m-1"}).hash() {
		t.Fatal("different users, same hash")
	}
}

func TestWindowEvictsByAgeCountAndSize(t *testing.T) {
	base := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	w := newWindow()
	for i := range 10 {
		k := sentKey{room: 1, user: 2, clientMsgID: fmt.Sprint("m", i)}
		w.add(k, sent{id: schemas.ID(i + 1), seq: int64(i + 1), text: "hi", at: base.Add(time.Duration(i) * time.Minute), off: int64(100 + i)})
	}
	w.add(sentKey{room: 1, user: 2, clientMsgID: "m0"}, sent{off: 999}) // a replay keeps the first
	if s, _ := w.get(sentKey{room: 1, user: 2, clientMsgID: "m0"}); s.off != 100 || w.len() != 10 {
		t.Fatalf("re-adding changed the window: %+v, %d entries", s, w.len())
	}
	if ev := w.evictable(base.Add(-time.Hour), 100, 1<<20); len(ev) != 0 {
		t.Fatalf("nothing is old or over the bounds, got %d to evict", len(ev))
	}
	if ev := w.evictable(base.Add(3*time.Minute), 100, 1<<20); len(ev) != 3 || ev[2].off != 102 {
		t.Fatalf("by age: %+v", ev)
	}
	if ev := w.evictable(base.Add(-time.Hour), 4, 1<<20); len(ev) != 6 || ev[5].off != 105 {
		t.Fatalf("by count: %+v", ev)
	}
	big := sentKey{room: 1, user: 3, clientMsgID: "big"}
	w.add(big, sent{text: strings.Repeat("x", 10000), at: base.Add(time.Hour), off: 200})
	// Oldest first until the rest fits: nine small ones leave, the last
	// small one and the big one stay.
	small := entryBytes(sentKey{clientMsgID: "m0"}, sent{text: "hi"})
	if ev := w.evictable(base.Add(-time.Hour), 100, entryBytes(big, sent{text: strings.Repeat("x", 10000)})+small); len(ev) != 9 {
		t.Fatalf("by size: %d evicted, want 9", len(ev))
	}
	w.evictThrough(104)
	if w.len() != 6 {
		t.Fatalf("%d entries after evicting through 104, want 6", w.len())
	}
	if _, ok := w.get(sentKey{room: 1, user: 2, clientMsgID: "m4"}); ok {
		t.Fatal("m4 is still in the window")
	}
	if list := w.list(); len(list) != 6 || list[0].sent.off != 105 || list[5].key != big {
		t.Fatalf("list in log order: %+v", list)
	}
}

func TestBloomSetCopiesOnWriteAndSeals(t *testing.T) {
	var b *bloomSet
	if b.mayContain(1) {
		t.Fatal("an empty set contains nothing")
	}
	b1, changed := b.with([]int64{1, 2, 3})
	if len(changed) != 1 || !b1.mayContain(2) {
		t.Fatalf("first add: %v", changed)
	}
	b2, _ := b1.with([]int64{4})
	if !b2.mayContain(4) || !b2.mayContain(1) {
		t.Fatal("the new set lost keys")
	}
	if b1.mayContain(4) && b1.counts[0] == 3 {
		// Possible only as a false positive; the count proves b1 was not
		// written to.
		t.Log("false positive on 4 in the old set")
	}
	if b1.counts[0] != 3 || b2.counts[0] != 4 {
		t.Fatalf("counts %v %v: the old set was modified", b1.counts, b2.counts)
	}
	// A full chunk is sealed: the next keys open a new one.
	many := make([]int64, bloomChunkKeys)
	for i := range many {
		many[i] = int64(i) + 10
	}
	b3, changed := b2.with(many)
	if len(b3.chunks) != 2 || len(changed) != 2 || b3.counts[0] != bloomChunkKeys {
		t.Fatalf("chunks %d counts %v changed %v", len(b3.chunks), b3.counts, changed)
	}
	fp := 0
	for i := range 10000 {
		if b3.mayContain(int64(1)<<40 + int64(i)) {
			fp++
		}
	}
	if fp > 400 { // 1% per chunk, two chunks: about 2%
		t.Fatalf("%d false positives in 10000", fp)
	}
}
