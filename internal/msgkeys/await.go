package msgkeys

import "context"

// await finds the keys of ids and adds them to have: it queries the store
// and returns with the store's answer, or sooner, once Seeds have brought
// every one of them. A split realtime service's tail often reads a message
// before the answer to the send it forwarded, and that answer carries the
// message's key (issue 16): on a busy store the answer comes first by far,
// and the tail's other rooms wait for whichever is first, not for the
// query. The query then goes on alone (bounded by maxQueries and
// queryTimeout) and caches what it reads.
//
// A key the store no longer has (a deleted message's) comes by no Seed:
// await then returns with the store's answer, without it.
func (r *Reader) await(ctx context.Context, ids []string, have map[string]cached) error {
	if r.pool == nil {
		return ErrNoStore
	}
	type answer struct {
		got map[string]cached
		err error
	}
	slots := r.slots
	var answered chan answer // nil until the query starts
	for {
		r.mu.Lock()
		seeded, all := r.seeded, r.takeLocked(ids, have)
		r.mu.Unlock()
		if all {
			if answered != nil { // a read was made, and not waited for
				r.overtaken.Add(1)
			}
			return nil
		}
		select {
		case slots <- struct{}{}:
			slots = nil
			answered = make(chan answer, 1)
			go func() {
				defer func() { <-r.slots }()
				got, err := r.fetch(ctx, ids)
				answered <- answer{got, err}
			}()
		case a := <-answered:
			if a.err != nil {
				return a.err
			}
			for id, c := range a.got {
				have[id] = c
			}
			return nil
		case <-seeded:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// takeLocked adds to have the keys of ids the cache holds, and reports
// whether have then holds every one.
func (r *Reader) takeLocked(ids []string, have map[string]cached) bool {
	all := true
	for _, id := range ids {
		if _, ok := have[id]; ok {
			continue
		}
		if c, ok := r.cache.peek(id); ok {
			have[id] = c
		} else {
			all = false
		}
	}
	return all
}
