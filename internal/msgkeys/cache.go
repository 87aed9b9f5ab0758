package msgkeys

import "happychat/schemas"

// keyCache is a Reader's cache of keys, in two generations: new keys go
// into the young one; when it holds half the bound, it becomes the old one
// and the one before is dropped. A key found in the old generation moves
// back to the young one. So the cache holds at most its bound, and what
// was read or seeded lately survives a turnover: a cache that started over
// at its bound dropped the keys of events still on their way to the
// lagging readers, which then each queried the store for them.
type keyCache struct {
	half       int
	young, old map[string]cached
	// youngBy and oldBy list each generation's keys per message (forget).
	youngBy, oldBy map[schemas.ID][]string
}

func newKeyCache(bound int) *keyCache {
	c := &keyCache{half: max(bound/2, 1)}
	c.young, c.youngBy = map[string]cached{}, map[schemas.ID][]string{}
	c.old, c.oldBy = map[string]cached{}, map[schemas.ID][]string{}
	return c
}

// peek returns the key id names, in either generation.
func (c *keyCache) peek(id string) (cached, bool) {
	if k, ok := c.young[id]; ok {
		return k, true
	}
	k, ok := c.old[id]
	return k, ok
}

// take returns the key id names and moves it to the young generation.
func (c *keyCache) take(id string) (cached, bool) {
	if k, ok := c.young[id]; ok {
		return k, true
	}
	k, ok := c.old[id]
	if ok {
		c.put(id, k)
	}
	return k, ok
}

// drop removes one key (an expired one).
func (c *keyCache) drop(id string) {
	delete(c.young, id)
	delete(c.old, id)
}

// put adds a key to the young generation, turning the generations over
// first when it is full.
func (c *keyCache) put(id string, k cached) {
	if len(c.young) >= c.half || len(c.youngBy) >= c.half {
		c.old, c.oldBy = c.young, c.youngBy
		c.young, c.youngBy = map[string]cached{}, map[schemas.ID][]string{}
	}
	if _, ok := c.young[id]; !ok {
		c.youngBy[k.msg] = append(c.youngBy[k.msg], id)
	}
	c.young[id] = k
}

// forget removes every key of message, from both generations.
func (c *keyCache) forget(message schemas.ID) {
	for _, id := range c.youngBy[message] {
		delete(c.young, id)
	}
	for _, id := range c.oldBy[message] {
		delete(c.old, id)
	}
	delete(c.youngBy, message)
	delete(c.oldBy, message)
}

// len is how many keys it holds (a key in both generations counts twice).
func (c *keyCache) len() int { return len(c.young) + len(c.old) }
