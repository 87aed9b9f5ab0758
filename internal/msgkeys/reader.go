package msgkeys

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/schemas"
)

// KeyTTL is how long a Reader keeps a key it read. A reader that never
// sees a message's delete (it reads other rooms, or lags) stops opening the
// message's texts at most this long after the key was destroyed.
const KeyTTL = 30 * time.Second

// maxCached bounds a Reader's cache (keyCache).
const maxCached = 100_000

// maxDeleted bounds the deleted messages a Reader remembers (Reader.dead).
const maxDeleted = 10_000

// maxQueries bounds a Reader's queries in flight: Open's query goes on after
// a seed answered Open (await), and a slow store must not pile them up.
const maxQueries = 4

// queryTimeout bounds one read of the store: a store that hangs gets an
// error, and the caller's retry, instead of a reader stuck for good.
const queryTimeout = 10 * time.Second

// ErrNoStore is a sealed text met by a reader that has no key store: a
// wiring mistake, since a cluster at level 4 seals every text.
var ErrNoStore = errors.New("a sealed message text and no message key store")

// Reader opens sealed texts with the keys in PostgreSQL, cached. Safe for
// concurrent use. A nil *Reader opens envelopes that have nothing sealed.
type Reader struct {
	pool  *pgxpool.Pool
	scope string
	now   func() time.Time

	mu    sync.Mutex
	cache *keyCache
	// dead holds the messages whose delete this reader saw, oldest first
	// in deadOrder: a key of theirs that a query read before the delete, or
	// an answer brings after it, is never cached, so the reader asks the
	// store again, which holds the key only while a report holds it.
	dead      map[schemas.ID]struct{}
	deadOrder []schemas.ID
	// seeded is closed, and replaced, by every Seed (await).
	seeded chan struct{}
	slots  chan struct{} // maxQueries

	// queries and queried count the store's reads and the keys they asked
	// for, overtaken the reads a seed made unneeded (Stats).
	queries, queried, overtaken atomic.Int64
}

type cached struct {
	msg    schemas.ID
	secret []byte
	at     time.Time
}

// NewReader reads the keys of scope (the rooms topic) from pool.
func NewReader(pool *pgxpool.Pool, scope string) *Reader {
	return &Reader{pool: pool, scope: scope, now: time.Now, cache: newKeyCache(maxCached),
		dead: map[schemas.ID]struct{}{}, seeded: make(chan struct{}), slots: make(chan struct{}, maxQueries)}
}

// sealedOf lists the sealed texts of an envelope.
func sealedOf(env *schemas.Envelope) []*schemas.Sealed {
	switch p := env.Payload.(type) {
	case schemas.MessageSent:
		var out []*schemas.Sealed
		if p.Sealed != nil {
			out = append(out, p.Sealed)
		}
		if p.ReplyTo != nil && p.ReplyTo.PreviewSealed != nil {
			out = append(out, p.ReplyTo.PreviewSealed)
		}
		return out
	case schemas.MessageEdited:
		if p.Sealed != nil {
			return []*schemas.Sealed{p.Sealed}
		}
	}
	return nil
}

// Open replaces, in envs, every sealed text with its plaintext, or marks
// it erased (Erased; for a reply's preview, ReplyTo.Deleted) when its key
// is gone. It reads the keys it lacks in one query (or takes them from a
// Seed that comes first, see await), and forgets the keys of every message
// a message.deleted in envs deletes, from that point on. An error (the
// store is unreachable) leaves envs unchanged: retry.
func (r *Reader) Open(ctx context.Context, envs []schemas.Envelope) error {
	var (
		need []string
		// have holds the keys this call opens with, taken as they are
		// found: the cache may drop them (maxCached) meanwhile, and a key
		// it dropped is not a destroyed one.
		have map[string]cached
	)
	for i := range envs {
		for _, s := range sealedOf(&envs[i]) {
			if r == nil {
				return ErrNoStore
			}
			if have == nil {
				have = map[string]cached{}
			}
			if c, ok := r.get(s.KeyID); ok {
				have[s.KeyID] = c
			} else {
				need = append(need, s.KeyID)
			}
		}
	}
	if r == nil {
		return nil
	}
	if len(need) > 0 {
		if err := r.await(ctx, need, have); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range envs {
		switch p := envs[i].Payload.(type) {
		case schemas.MessageSent:
			if p.Sealed != nil {
				p.Text, p.Erased = r.openLocked(have, p.Sealed)
				p.Sealed = nil
			}
			if rt := p.ReplyTo; rt != nil && rt.PreviewSealed != nil {
				c := *rt
				var gone bool
				if c.Preview, gone = r.openLocked(have, rt.PreviewSealed); gone {
					c.Deleted = true
				}
				c.PreviewSealed = nil
				p.ReplyTo = &c
			}
			envs[i].Payload = p
		case schemas.MessageEdited:
			if p.Sealed != nil {
				p.Text, p.Erased = r.openLocked(have, p.Sealed)
				p.Sealed = nil
				envs[i].Payload = p
			}
		case schemas.MessageDeleted:
			r.forgetLocked(p.MessageID)
			for id, c := range have {
				if c.msg == p.MessageID {
					delete(have, id)
				}
			}
		}
	}
	return nil
}

// Cached reports whether every sealed text of env has its key in the
// cache: Open would open it without reading the store.
func (r *Reader) Cached(env *schemas.Envelope) bool {
	for _, s := range sealedOf(env) {
		if r == nil {
			return false
		}
		if _, ok := r.get(s.KeyID); !ok {
			return false
		}
	}
	return true
}

// OpenOne is Open for one envelope.
func (r *Reader) OpenOne(ctx context.Context, env *schemas.Envelope) error {
	envs := []schemas.Envelope{*env}
	if err := r.Open(ctx, envs); err != nil {
		return err
	}
	*env = envs[0]
	return nil
}

// Forget drops message's keys from the cache (its delete was seen
// elsewhere than through Open).
func (r *Reader) Forget(message schemas.ID) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgetLocked(message)
}

// openLocked opens s with the keys of have; gone reports a destroyed key
// (one the store did not have, or one of a message deleted earlier in the
// same Open), or a text that does not open, which no reader can show either.
func (r *Reader) openLocked(have map[string]cached, s *schemas.Sealed) (text string, gone bool) {
	c, ok := have[s.KeyID]
	if !ok {
		return "", true
	}
	text, err := open(c.secret, s)
	if err != nil {
		return "", true
	}
	return text, false
}

func (r *Reader) get(id string) (cached, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.cache.take(id)
	if ok && r.now().Sub(c.at) > KeyTTL {
		r.cache.drop(id)
		return cached{}, false
	}
	return c, ok
}

// fetch reads keys from the store, returns them and caches them; a key
// absent from the store is absent from both (it was destroyed).
func (r *Reader) fetch(ctx context.Context, ids []string) (map[string]cached, error) {
	if r.pool == nil {
		return nil, ErrNoStore
	}
	r.queries.Add(1)
	r.queried.Add(int64(len(ids)))
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	rows, err := r.pool.Query(ctx, `SELECT key_id, message_id, secret FROM message_keys WHERE scope = $1 AND key_id = ANY($2)`,
		r.scope, ids)
	if err != nil {
		return nil, fmt.Errorf("read message keys: %w", err)
	}
	defer rows.Close()
	now := r.now()
	got := map[string]cached{}
	for rows.Next() {
		var (
			id  string
			msg int64
			c   cached
		)
		if err := rows.Scan(&id, &msg, &c.secret); err != nil {
			return nil, fmt.Errorf("read message keys: %w", err)
		}
		c.msg, c.at = schemas.ID(msg), now
		got[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read message keys: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cacheLocked(got)
	return got, nil
}

// cacheLocked adds keys to the cache, but none of a message whose delete
// was seen.
func (r *Reader) cacheLocked(keys map[string]cached) {
	for id, c := range keys {
		if _, gone := r.dead[c.msg]; gone {
			continue
		}
		r.cache.put(id, c)
	}
}

// forgetLocked drops a deleted message's keys, and remembers it dead.
func (r *Reader) forgetLocked(message schemas.ID) {
	r.cache.forget(message)
	if _, ok := r.dead[message]; ok {
		return
	}
	if len(r.deadOrder) >= maxDeleted {
		delete(r.dead, r.deadOrder[0])
		r.deadOrder = r.deadOrder[1:]
	}
	r.dead[message] = struct{}{}
	r.deadOrder = append(r.deadOrder, message)
}

// Stats counts a Reader's reads of the key store.
type Stats struct {
	// Queries is how many times it queried the store, Keys how many keys
	// those queries asked for: the texts its cache could not open.
	Queries, Keys int64
	// Overtaken is how many times a Seed brought every key Open lacked
	// before the store answered (await).
	Overtaken int64
}

// Stats returns the reader's counts so far.
func (r *Reader) Stats() Stats {
	if r == nil {
		return Stats{}
	}
	return Stats{Queries: r.queries.Load(), Keys: r.queried.Load(), Overtaken: r.overtaken.Load()}
}

// Seed puts keys a writer just made into the cache, so that the writer's
// own reads of its events (a replay, a read-back, the realtime tail in the
// same process) need no query.
func (r *Reader) Seed(keys []Key) {
	if r == nil {
		return
	}
	now := r.now()
	add := make(map[string]cached, len(keys))
	for _, k := range keys {
		add[k.ID] = cached{msg: k.Message, secret: k.Secret, at: now}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cacheLocked(add)
	close(r.seeded)
	r.seeded = make(chan struct{})
}

// Held returns which of messages are under a hold now (see the package
// function Held); a nil Reader, with no key store, holds nothing.
func (r *Reader) Held(ctx context.Context, messages []schemas.ID) (map[schemas.ID]bool, error) {
	if r == nil {
		return map[schemas.ID]bool{}, nil
	}
	return Held(ctx, r.pool, r.scope, messages)
}
