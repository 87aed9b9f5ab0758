package command

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// sealLevel is the cluster feature level from which texts are sealed
// (message.sent v3, message.edited v2).
const sealLevel = 4

// sealBatch returns the batch's events as they are appended: from feature
// level 4 on, every text (a send's, an edit's, a reply's preview) sealed
// under a fresh data key (docs/adr/0009). The decisions and the owner's
// state keep the plaintext events. The new keys and the destruction of the
// keys of the messages the batch deletes are committed to PostgreSQL first,
// in one transaction: a key is durable before its event can be
// acknowledged, and a key of a batch whose append then fails is never read.
// A message under a hold keeps its keys (msgkeys.Hold).
func (o *owner) sealBatch(ctx context.Context, events []schemas.Envelope) ([]schemas.Envelope, error) {
	wire := events
	var (
		keys  []msgkeys.Key
		erase []schemas.ID
	)
	sealing := o.svc.level.Load() >= sealLevel
	copied := false
	set := func(i int, p schemas.Event) {
		if !copied { // events stay the plaintext the owner installs
			wire, copied = append([]schemas.Envelope(nil), events...), true
		}
		wire[i].Payload = p
	}
	for i, e := range events {
		var err error
		switch p := e.Payload.(type) {
		case schemas.MessageSent:
			if !sealing {
				continue
			}
			if p.Sealed, keys, err = sealText(keys, e.ID, p.Text); err != nil {
				return nil, err
			}
			p.Text = ""
			if rt := p.ReplyTo; rt != nil && rt.Preview != "" {
				c := *rt
				// Under a key of the original: deleting it erases the
				// preview its replies carry.
				if c.PreviewSealed, keys, err = sealText(keys, rt.MessageID, rt.Preview); err != nil {
					return nil, err
				}
				c.Preview = ""
				p.ReplyTo = &c
			}
			set(i, p)
		case schemas.MessageEdited:
			if !sealing {
				continue
			}
			if p.Sealed, keys, err = sealText(keys, p.MessageID, p.Text); err != nil {
				return nil, err
			}
			p.Text = ""
			set(i, p)
		case schemas.MessageDeleted:
			erase = append(erase, p.MessageID)
		}
	}
	hold, release := holdsOf(events)
	if len(keys) == 0 && len(erase) == 0 && len(hold) == 0 && len(release) == 0 {
		return wire, nil
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var released []schemas.ID
	if err := pgx.BeginFunc(sctx, o.svc.cfg.Store, func(tx pgx.Tx) error {
		scope := o.svc.cfg.Names.Rooms
		// A report's hold before the batch's deletes, its release after
		// them (report_hold.go).
		if err := msgkeys.Hold(sctx, tx, scope, hold); err != nil {
			return err
		}
		if err := msgkeys.Write(sctx, tx, scope, keys, erase); err != nil {
			return err
		}
		var err error
		released, err = msgkeys.Release(sctx, tx, scope, release)
		return err
	}); err != nil {
		return nil, err
	}
	o.erasing = append(o.erasing, erase...)
	o.erasing = append(o.erasing, released...)
	return wire, nil
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
