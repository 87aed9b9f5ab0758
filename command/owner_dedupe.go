package command

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
)

// findOld looks up a send that is not in the window: only when the Bloom
// filter says it may have been evicted, in the durable store, and then in
// the log itself (the store keeps hashes and offsets; the record decides).
// An error means the answer is unknown: the caller refuses the send.
func (o *owner) findOld(ctx context.Context, k sentKey) (sent, bool, error) {
	h := k.hash()
	if !o.dd.bloom.mayContain(h) {
		return sent{}, false, nil
	}
	o.svc.metrics.dedupeLookups.Inc()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	offs, err := o.svc.store.lookup(ctx, o.part, h)
	if err != nil {
		return sent{}, false, err
	}
	for _, off := range offs {
		env, ok, err := o.svc.readAt(ctx, o.part, off)
		if err != nil {
			return sent{}, false, err
		}
		if !ok {
			continue
		}
		p, isSend := env.Payload.(schemas.MessageSent)
		if isSend && env.RoomID == k.room && env.UserID == k.user && p.ClientMsgID == k.clientMsgID {
			return sent{id: env.ID, seq: env.Seq, text: p.Text, nickname: p.Nickname, at: env.OccurredAt, off: off}, true, nil
		}
	}
	return sent{}, false, nil
}

// readAt reads the committed record at offset off of partition part.
func (s *Service) readAt(ctx context.Context, part int32, off int64) (schemas.Envelope, bool, error) {
	cl, err := kgo.NewClient(append(s.baseOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Names.Rooms: {part: kgo.NewOffset().At(off)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(50*time.Millisecond),
	)...)
	if err != nil {
		return schemas.Envelope{}, false, err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return schemas.Envelope{}, false, fmt.Errorf("read offset %d: %w", off, err)
		}
		var (
			rec  *kgo.Record
			ferr error
		)
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return schemas.Envelope{}, false, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if rec == nil {
				rec = r
			}
		})
		if rec == nil {
			continue
		}
		if rec.Offset != off {
			return schemas.Envelope{}, false, nil // aborted or a control record
		}
		env, err := schemas.Events.Decode(rec.Value)
		if err != nil {
			return schemas.Envelope{}, false, fmt.Errorf("decode offset %d: %w", off, err)
		}
		if err := s.msgKeys.OpenOne(ctx, &env); err != nil {
			return schemas.Envelope{}, false, fmt.Errorf("offset %d: %w", off, err)
		}
		return env, true, nil
	}
}

// replay reads the partition from..to and adds its sends to the window.
// A long replay (no usable snapshot) evicts as it goes, through the store,
// so that memory stays bounded.
func (o *owner) replay(ctx context.Context, from, to int64) (int64, error) {
	svc := o.svc
	start := kgo.NewOffset().At(from)
	if from == 0 {
		start = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(svc.baseOpts(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{svc.cfg.Names.Rooms: {o.part: start}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchMaxBytes(fetchMaxBytes),
	)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var (
		n    int64
		rerr error // a message the fold needs could not be read back
	)
	pos := from
	for pos < to {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return n, ferr
		}
		var (
			envs []schemas.Envelope
			offs []int64
		)
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= to {
				return
			}
			pos = r.Offset + 1
			if r.Attrs.IsControl() {
				return
			}
			env, err := schemas.Events.Decode(r.Value)
			if err != nil {
				// The tail has judged every record up to the stable
				// offset: the partition is not blocked, so this one was
				// skippable (poison, or a stale unknown event).
				return
			}
			envs, offs = append(envs, env), append(offs, r.Offset)
		})
		// Sealed texts open with one key lookup per poll; a deleted
		// message's send comes back erased, as it must.
		if err := svc.msgKeys.Open(ctx, envs); err != nil {
			return n, err
		}
		for i, env := range envs {
			n++
			if p, ok := env.Payload.(schemas.MessageSent); ok {
				o.dd.win.add(sentKey{room: env.RoomID, user: env.UserID, clientMsgID: p.ClientMsgID},
					sent{id: env.ID, seq: env.Seq, text: p.Text, nickname: p.Nickname, at: env.OccurredAt, off: offs[i]})
			}
			if rerr == nil {
				rerr = o.foldMessage(ctx, env)
			}
		}
		if rerr != nil {
			return n, rerr
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if k := len(p.Records); k > 0 && p.Records[k-1].Offset+1 > pos {
				pos = min(p.Records[k-1].Offset+1, to)
			}
		})
		// A replay since the last snapshot is short (at most about
		// CHAT_SNAPSHOT_RECORDS): the first snapshot evicts in the
		// background. Only a replay from the start of a long log evicts
		// on the way, synchronously, to stay bounded.
		if o.dd.win.len() > 8*svc.cfg.DedupeWindowEntries || o.dd.win.bytes > 8*svc.cfg.DedupeWindowBytes ||
			o.dd.msgs.len() > 8*svc.cfg.DedupeWindowEntries {
			if err := o.evictNow(ctx); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// evictNow moves the window's oldest sends and the table's oldest messages
// to the store synchronously.
func (o *owner) evictNow(ctx context.Context) error {
	cfg := o.svc.cfg
	cutoff := o.svc.now().Add(-cfg.DedupeWindow)
	ev := o.dd.win.evictable(cutoff, cfg.DedupeWindowEntries, cfg.DedupeWindowBytes)
	msgs := o.dd.msgs.evictable(cutoff, cfg.DedupeWindowEntries)
	if len(ev) == 0 && len(msgs) == 0 {
		return nil
	}
	hashes := make([]int64, len(ev))
	for i, e := range ev {
		hashes[i] = e.hash
	}
	next, changed := o.dd.bloom, []int(nil)
	if len(hashes) > 0 {
		next, changed = o.dd.bloom.with(hashes)
	}
	if err := o.svc.store.evict(ctx, o.part, ev, next, changed, msgs); err != nil {
		return err
	}
	o.dd.bloom = next
	if len(ev) > 0 {
		o.dd.win.evictThrough(ev[len(ev)-1].off)
	}
	o.dd.msgs.evict(msgs)
	return nil
}

// findMsg returns a message's state: from the owner's table, else read back
// from the store (an error means the store cannot answer: the command is
// refused). Not found: no message of this partition by that id (or one
// older than this build, see docs/command.md).
func (o *owner) findMsg(ctx context.Context, id schemas.ID) (*msgMeta, bool, error) {
	if m, ok := o.dd.msgs.get(id); ok {
		return m, true, nil
	}
	o.svc.metrics.dedupeLookups.Inc()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, ok, err := o.svc.store.loadMessage(ctx, o.part, id)
	if ok {
		// Committed state: it may serve the next commands from memory.
		o.dd.msgs.put(m)
	}
	return m, ok, err
}

// foldMessage applies a committed event to the message table (and erases a
// deleted message's text from the dedupe window).
func (o *owner) foldMessage(ctx context.Context, env schemas.Envelope) error {
	id := targetOf(env)
	if id == 0 {
		return nil
	}
	if p, ok := env.Payload.(schemas.MessageSent); ok {
		if _, seen := o.dd.msgs.get(id); !seen {
			o.dd.msgs.put(newMsgMeta(env, p))
		}
		return nil
	}
	m, ok, err := o.findMsg(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return nil // a message older than this build's table: nothing to keep
	}
	nm := m.next(env)
	o.dd.msgs.put(nm)
	if nm.deleted {
		o.dd.win.scrub(sentKey{room: nm.room, user: nm.author, clientMsgID: nm.clientMsgID})
	}
	return nil
}
