package msgkeys

import (
	"fmt"
	"testing"

	"happychat/schemas"
)

// The key cache's two generations: bounded, a key in use survives a
// turnover, an unused one is dropped at the second, and a forgotten
// message's keys leave both.
func TestKeyCacheGenerations(t *testing.T) {
	c := newKeyCache(4) // two keys a generation
	key := func(msg schemas.ID) cached { return cached{msg: msg} }
	c.put("a", key(1))
	c.put("b", key(2))
	c.put("c", key(3)) // the young generation was full: a and b are old now
	for _, id := range []string{"a", "b", "c"} {
		if _, ok := c.peek(id); !ok {
			t.Fatalf("%s dropped at the first turnover", id)
		}
	}
	if _, ok := c.take("a"); !ok { // in use: back to the young generation
		t.Fatal("a not found")
	}
	c.put("d", key(4)) // young {c, a} turns over: b is dropped
	if _, ok := c.peek("b"); ok {
		t.Error("b, unused for two turnovers, is still cached")
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, ok := c.peek(id); !ok {
			t.Errorf("%s dropped, though read or written since the last turnover", id)
		}
	}
	c.forget(1)
	if _, ok := c.peek("a"); ok {
		t.Error("a forgotten message's key is still cached")
	}
	for i := range 100 {
		c.put(fmt.Sprint("k", i), key(schemas.ID(100+i)))
		if n := c.len(); n > 4 {
			t.Fatalf("%d keys cached, over the bound of 4", n)
		}
	}
}
