package command

import (
	"context"
	"maps"
	"time"
)

// snapDone is the outcome of a background snapshot.
type snapDone struct {
	c     *capture
	bloom *bloomSet // the Bloom filter with the evicted sends added
	err   error
}

// maybeSnapshot starts a background snapshot when enough records were
// appended or enough time passed (and there is anything to save or evict).
// At most one runs per owner; the owner goes on serving meanwhile.
func (o *owner) maybeSnapshot(ctx context.Context) {
	cfg := o.svc.cfg
	if o.snapping {
		return
	}
	// A window twice its bound (a burst of long messages) is evicted at
	// once rather than at the next count or interval.
	due := len(o.erasing) > 0 || o.sinceSnap >= cfg.SnapshotRecords || o.dd.win.len() > 2*cfg.DedupeWindowEntries ||
		o.dd.win.bytes > 2*cfg.DedupeWindowBytes || o.dd.msgs.len() > 2*cfg.DedupeWindowEntries
	if !due && time.Since(o.lastSnap) >= cfg.SnapshotInterval {
		due = o.sinceSnap > 0 || o.dd.win.len() > cfg.DedupeWindowEntries || o.dd.win.bytes > cfg.DedupeWindowBytes ||
			o.dd.msgs.len() > cfg.DedupeWindowEntries ||
			len(o.dd.win.evictable(o.svc.now().Add(-cfg.DedupeWindow), cfg.DedupeWindowEntries, cfg.DedupeWindowBytes)) > 0
	}
	if !due {
		return
	}
	c := o.capture()
	o.snapping = true
	o.sinceSnap = 0
	o.lastSnap = time.Now()
	go func() {
		hashes := make([]int64, len(c.evict))
		for i, e := range c.evict {
			hashes[i] = e.hash
		}
		var (
			next    = c.bloom
			changed []int
		)
		if len(hashes) > 0 {
			next, changed = c.bloom.with(hashes)
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		start := time.Now()
		err := o.svc.store.save(sctx, c, o.svc.topicID, next, changed)
		o.svc.metrics.snapshotSeconds.Observe(time.Since(start).Seconds())
		o.snapc <- snapDone{c: c, bloom: next, err: err}
	}()
}

// snapshotDone applies a finished snapshot: the evicted sends are durable
// now, so they leave the window and join the Bloom filter.
func (o *owner) snapshotDone(d snapDone) {
	o.snapping = false
	if d.err != nil {
		o.svc.metrics.snapshotFailures.Inc()
		o.svc.log.Warn("snapshot not written (the window keeps every send until one is)", "partition", o.part, "err", d.err)
		// Retry at the next tick rather than after a whole interval.
		o.lastSnap = time.Time{}
		o.sinceSnap += o.svc.cfg.SnapshotRecords
		o.erasing = append(o.erasing, d.c.erased...)
		return
	}
	o.svc.metrics.snapshots.Inc()
	if n := len(d.c.evict); n > 0 {
		o.dd.bloom = d.bloom
		o.dd.win.evictThrough(d.c.evict[n-1].off)
	}
	// Only the states the snapshot stored leave: a message that changed
	// meanwhile stays, and is stored again by a later snapshot.
	o.dd.msgs.evict(d.c.evictMsgs)
}

// capture copies what a snapshot of the owner's partition needs.
func (o *owner) capture() *capture {
	ps := o.svc.fold.parts[o.part]
	ps.mu.RLock()
	rooms := make([]*room, 0, len(ps.rooms))
	for _, r := range ps.rooms {
		rooms = append(rooms, r)
	}
	c := &capture{part: o.part, offset: o.pos, lastID: ps.lastID, rooms: rooms, users: maps.Clone(ps.users)}
	ps.mu.RUnlock()
	c.window = o.dd.win.list()
	c.evict = o.dd.win.evictable(o.svc.now().Add(-o.svc.cfg.DedupeWindow), o.svc.cfg.DedupeWindowEntries, o.svc.cfg.DedupeWindowBytes)
	c.bloom = o.dd.bloom
	c.msgs = o.dd.msgs.list()
	c.evictMsgs = o.dd.msgs.evictable(o.svc.now().Add(-o.svc.cfg.DedupeWindow), o.svc.cfg.DedupeWindowEntries)
	c.takenAt = o.svc.now()
	c.erased, o.erasing = o.erasing, nil
	return c
}
