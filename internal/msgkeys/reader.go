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

// maxCached bounds a Reader's cache; past it the cache starts over.
const maxCached = 100_000

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
	keys  map[string]cached
	byMsg map[schemas.ID][]string

	// queries and queried count the store's reads and the keys they asked
	// for (Stats).
	queries, queried atomic.Int64
}

type cached struct {
	msg    schemas.ID
	secret []byte
	at     time.Time
}

// NewReader reads the keys of scope (the rooms topic) from pool.
func NewReader(pool *pgxpool.Pool, scope string) *Reader {
	return &Reader{pool: pool, scope: scope, now: time.Now, keys: map[string]cached{}, byMsg: map[schemas.ID][]string{}}
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
// is gone. It reads the keys it lacks in one query, and forgets the keys of
// every message a message.deleted in envs deletes, from that point on. An
// error (the store is unreachable) leaves envs unchanged: retry.
func (r *Reader) Open(ctx context.Context, envs []schemas.Envelope) error {
	var need []string
	for i := range envs {
		for _, s := range sealedOf(&envs[i]) {
			if r == nil {
				return ErrNoStore
			}
			if _, ok := r.get(s.KeyID); !ok {
				need = append(need, s.KeyID)
			}
		}
	}
	if r == nil {
		return nil
	}
	if len(need) > 0 {
		if err := r.fetch(ctx, need); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range envs {
		switch p := envs[i].Payload.(type) {
		case schemas.MessageSent:
			if p.Sealed != nil {
				p.Text, p.Erased = r.openLocked(p.Sealed)
				p.Sealed = nil
			}
			if rt := p.ReplyTo; rt != nil && rt.PreviewSealed != nil {
				c := *rt
				var gone bool
				if c.Preview, gone = r.openLocked(rt.PreviewSealed); gone {
					c.Deleted = true
				}
				c.PreviewSealed = nil
				p.ReplyTo = &c
			}
			envs[i].Payload = p
		case schemas.MessageEdited:
			if p.Sealed != nil {
				p.Text, p.Erased = r.openLocked(p.Sealed)
				p.Sealed = nil
				envs[i].Payload = p
			}
		case schemas.MessageDeleted:
			r.forgetLocked(p.MessageID)
		}
	}
	return nil
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

// openLocked opens s; gone reports a destroyed key (or a text that does not
// open, which no reader can show either).
func (r *Reader) openLocked(s *schemas.Sealed) (text string, gone bool) {
	c, ok := r.keys[s.KeyID]
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
	c, ok := r.keys[id]
	if ok && r.now().Sub(c.at) > KeyTTL {
		delete(r.keys, id)
		return cached{}, false
	}
	return c, ok
}

// fetch reads keys into the cache; a key absent from the store stays
// absent from the cache (it was destroyed).
func (r *Reader) fetch(ctx context.Context, ids []string) error {
	if r.pool == nil {
		return ErrNoStore
	}
	r.queries.Add(1)
	r.queried.Add(int64(len(ids)))
	rows, err := r.pool.Query(ctx, `SELECT key_id, message_id, secret FROM message_keys WHERE scope = $1 AND key_id = ANY($2)`,
		r.scope, ids)
	if err != nil {
		return fmt.Errorf("read message keys: %w", err)
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
			return fmt.Errorf("read message keys: %w", err)
		}
		c.msg, c.at = schemas.ID(msg), now
		got[id] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read message keys: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys)+len(got) > maxCached || len(r.byMsg) > maxCached {
		r.keys, r.byMsg = map[string]cached{}, map[schemas.ID][]string{}
	}
	for id, c := range got {
		r.keys[id] = c
		r.byMsg[c.msg] = append(r.byMsg[c.msg], id)
	}
	return nil
}

func (r *Reader) forgetLocked(message schemas.ID) {
	for _, id := range r.byMsg[message] {
		delete(r.keys, id)
	}
	delete(r.byMsg, message)
}

// Stats returns how many times the reader queried the key store, and how
// many keys it asked for: the texts its cache could not open.
func (r *Reader) Stats() (queries, keys int64) {
	if r == nil {
		return 0, 0
	}
	return r.queries.Load(), r.queried.Load()
}

// Seed puts keys a writer just made into the cache, so that the writer's
// own reads of its events (a replay, a read-back, the realtime tail in the
// same process) need no query.
func (r *Reader) Seed(keys []Key) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys)+len(keys) > maxCached || len(r.byMsg) > maxCached {
		r.keys, r.byMsg = map[string]cached{}, map[schemas.ID][]string{}
	}
	now := r.now()
	for _, k := range keys {
		r.keys[k.ID] = cached{msg: k.Message, secret: k.Secret, at: now}
		r.byMsg[k.Message] = append(r.byMsg[k.Message], k.ID)
	}
}

// Held returns which of messages are under a hold now (see the package
// function Held); a nil Reader, with no key store, holds nothing.
func (r *Reader) Held(ctx context.Context, messages []schemas.ID) (map[schemas.ID]bool, error) {
	if r == nil {
		return map[schemas.ID]bool{}, nil
	}
	return Held(ctx, r.pool, r.scope, messages)
}
