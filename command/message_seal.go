package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// sealLevel is the cluster feature level from which texts are sealed
// (message.sent v3, message.edited v2).
const sealLevel = 4

// keyWrite is what a batch stores in PostgreSQL before its commit: the
// new data keys, the destruction of the keys of the messages it deletes,
// and the holds it puts and releases (report_hold.go).
type keyWrite struct {
	keys                 []msgkeys.Key
	erase, hold, release []schemas.ID
	// from[i] is where event i's keys start in keys (from[len(events)] is
	// len(keys)), for the answers that carry them (Result.Keys).
	from []int
}

// keysOf returns the keys made for events[i:j].
func (w keyWrite) keysOf(i, j int) []msgkeys.Key {
	if j >= len(w.from) || w.from[i] == w.from[j] {
		return nil
	}
	return w.keys[w.from[i]:w.from[j]]
}

func (w keyWrite) empty() bool {
	return len(w.keys) == 0 && len(w.erase) == 0 && len(w.hold) == 0 && len(w.release) == 0
}

// sealBatch returns the batch's events as they are appended: from feature
// level 4 on, every text (a send's, an edit's, a reply's preview) sealed
// under a fresh data key (docs/adr/0009). The decisions and the owner's
// state keep the plaintext events. It only encrypts; storeKeys stores what
// it returns, and the batch's transaction commits only once that is
// stored: a key is durable before its event can be acknowledged, and a key
// of a batch whose append then fails is never read. A message under a hold
// keeps its keys (msgkeys.Hold).
func (o *owner) sealBatch(events []schemas.Envelope) ([]schemas.Envelope, keyWrite, error) {
	wire := events
	var kw keyWrite
	sealing := o.svc.level.Load() >= sealLevel
	copied := false
	set := func(i int, p schemas.Event) {
		if !copied { // events stay the plaintext the owner installs
			wire, copied = append([]schemas.Envelope(nil), events...), true
		}
		wire[i].Payload = p
	}
	for i, e := range events {
		kw.from = append(kw.from, len(kw.keys))
		var err error
		switch p := e.Payload.(type) {
		case schemas.MessageSent:
			if !sealing {
				continue
			}
			if p.Sealed, kw.keys, err = sealText(kw.keys, e.ID, p.Text); err != nil {
				return nil, kw, err
			}
			p.Text = ""
			if rt := p.ReplyTo; rt != nil && rt.Preview != "" {
				c := *rt
				// Under a key of the original: deleting it erases the
				// preview its replies carry.
				if c.PreviewSealed, kw.keys, err = sealText(kw.keys, rt.MessageID, rt.Preview); err != nil {
					return nil, kw, err
				}
				c.Preview = ""
				p.ReplyTo = &c
			}
			set(i, p)
		case schemas.MessageEdited:
			if !sealing {
				continue
			}
			if p.Sealed, kw.keys, err = sealText(kw.keys, p.MessageID, p.Text); err != nil {
				return nil, kw, err
			}
			p.Text = ""
			set(i, p)
		case schemas.MessageDeleted:
			kw.erase = append(kw.erase, p.MessageID)
		}
	}
	kw.from = append(kw.from, len(kw.keys))
	kw.hold, kw.release = holdsOf(events)
	return wire, kw, nil
}

// storeKeys commits a batch's keyWrite to PostgreSQL and returns the
// messages whose keys it destroyed (the deleted ones, and the deleted ones
// whose holds it released). It runs while the batch's records are being
// produced, so the store's round trip overlaps the append's instead of
// preceding it (issue 16); the commit waits for it. A batch of sends only,
// the common case, is one INSERT in one round trip.
func (o *owner) storeKeys(ctx context.Context, kw keyWrite) ([]schemas.ID, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	scope := o.svc.cfg.Names.Rooms
	if len(kw.erase) == 0 && len(kw.hold) == 0 && len(kw.release) == 0 {
		return nil, msgkeys.Write(ctx, o.svc.cfg.Store, scope, kw.keys, nil)
	}
	var released []schemas.ID
	if err := pgx.BeginFunc(ctx, o.svc.cfg.Store, func(tx pgx.Tx) error {
		// A report's hold before the batch's deletes, its release after
		// them (report_hold.go).
		if err := msgkeys.Hold(ctx, tx, scope, kw.hold); err != nil {
			return err
		}
		if err := msgkeys.Write(ctx, tx, scope, kw.keys, kw.erase); err != nil {
			return err
		}
		var err error
		released, err = msgkeys.Release(ctx, tx, scope, kw.release)
		return err
	}); err != nil {
		return nil, err
	}
	return append(append([]schemas.ID(nil), kw.erase...), released...), nil
}

// sealText seals text under a new key of message, added to keys.
func sealText(keys []msgkeys.Key, message schemas.ID, text string) (*schemas.Sealed, []msgkeys.Key, error) {
	k, err := msgkeys.New(message)
	if err != nil {
		return nil, keys, err
	}
	s, err := k.Seal(text)
	if err != nil {
		return nil, keys, fmt.Errorf("seal: %w", err)
	}
	return s, append(keys, k), nil
}

// errKeyStore marks a write whose commit was refused because its batch's
// keys were not stored: nothing was committed, so the transaction's abort
// settles it and nothing needs to be read back.
var errKeyStore = errors.New("the message key store did not confirm the batch's keys")

// keyStore is a batch's keyWrite being stored while its records are
// produced.
type keyStore struct {
	done   chan error
	erased []schemas.ID // once wait returned nil
}

// startKeyStore stores kw beside the append (storeKeys); the commit waits
// for it through wait.
func (o *owner) startKeyStore(ctx context.Context, kw keyWrite) *keyStore {
	ks := &keyStore{}
	if kw.empty() {
		return ks
	}
	ks.done = make(chan error, 1)
	go func() {
		began := time.Now()
		// Not cancelled with the owner: a revoked owner finishes its
		// batch (graceful handoff), as its write does.
		erased, err := o.storeKeys(context.WithoutCancel(ctx), kw)
		if err == nil && len(kw.keys) > 0 && o.svc.cfg.KeysStored != nil {
			o.svc.cfg.KeysStored(kw.keys)
		}
		o.svc.metrics.stageSeconds.WithLabelValues("seal").Observe(time.Since(began).Seconds())
		ks.erased = erased
		ks.done <- err
	}()
	return ks
}

// wait returns once the keys are stored, or why they were not (wrapping
// errKeyStore).
func (ks *keyStore) wait() error {
	if ks.done == nil {
		return nil
	}
	if err := <-ks.done; err != nil {
		return fmt.Errorf("%w: %w", errKeyStore, err)
	}
	return nil
}

// keyStoreFailed answers a batch whose keys were not stored: 503 (the
// store is down or slow; nothing was committed), after aborting its
// transaction. The producer stays: a failed abort starts the owner over.
func (o *owner) keyStoreFailed(ctx context.Context, cl *kgo.Client, werr error, acc []accepted, answeredLate bool) error {
	o.svc.log.Warn("message keys not stored", "partition", o.part, "err", werr)
	if !answeredLate {
		for _, a := range acc {
			a.req.done <- reply{err: unavailable("the message key store is not reachable now, retry")}
		}
	}
	if err := o.settle(ctx, cl, werr); isFenced(err) || !isRecoverable(err) {
		return err
	}
	o.recovering.Store(false)
	return nil
}
