package msgkeys

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/schemas"
)

// Schema is the key store's table, created by the command service's
// migration (it writes the keys). Scope is the rooms topic (tests share a
// database). A key lives here from before its event is appended until the
// message is deleted; a key of a batch whose transaction aborted is never
// read (no event names it) and only costs its row.
//
// held is the hold of docs/adr/0009 ("held until resolved"): a message
// under an open abuse report keeps its keys when deleted (erase_on_release
// records the delete), and releasing the hold then destroys them.
const Schema = `
CREATE TABLE IF NOT EXISTS message_keys (
  scope            text        NOT NULL,
  key_id           text        NOT NULL,
  message_id       bigint      NOT NULL, -- whose delete destroys the key
  secret           bytea       NOT NULL, -- AES-256
  held             boolean     NOT NULL DEFAULT false,
  erase_on_release boolean     NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key_id)
);
CREATE INDEX IF NOT EXISTS message_keys_message ON message_keys (scope, message_id);`

// Write stores a batch's new keys and destroys the keys of the messages
// it deletes, in tx: the command service commits it before appending the
// batch, so a key is durable before its event is acknowledged. A new key of
// a held message is held too; a deleted message that is held keeps its keys
// (marked to be destroyed on release, see Release).
func Write(ctx context.Context, tx pgx.Tx, scope string, keys []Key, erase []schemas.ID) error {
	if len(keys) > 0 {
		ids, msgs, secrets := make([]string, len(keys)), make([]int64, len(keys)), make([][]byte, len(keys))
		for i, k := range keys {
			ids[i], msgs[i], secrets[i] = k.ID, int64(k.Message), k.Secret
		}
		if _, err := tx.Exec(ctx, `INSERT INTO message_keys (scope, key_id, message_id, secret, held)
			SELECT $1, k, m, s, EXISTS (SELECT 1 FROM message_keys h WHERE h.scope = $1 AND h.message_id = m AND h.held)
			FROM unnest($2::text[], $3::bigint[], $4::bytea[]) AS t(k, m, s)
			ON CONFLICT (scope, key_id) DO NOTHING`, scope, ids, msgs, secrets); err != nil {
			return fmt.Errorf("store message keys: %w", err)
		}
	}
	if len(erase) == 0 {
		return nil
	}
	ids := make([]int64, len(erase))
	for i, id := range erase {
		ids[i] = int64(id)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM message_keys WHERE scope = $1 AND message_id = ANY($2)
		AND message_id NOT IN (SELECT message_id FROM message_keys WHERE scope = $1 AND message_id = ANY($2) AND held)`,
		scope, ids); err != nil {
		return fmt.Errorf("destroy message keys: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE message_keys SET erase_on_release = true
		WHERE scope = $1 AND message_id = ANY($2)`, scope, ids); err != nil {
		return fmt.Errorf("mark held message keys: %w", err)
	}
	return nil
}

// Hold keeps message's keys through a delete until Release: the rule for a
// message under an open abuse report (the moderation issue's reports call
// it when one is filed). Keys the message gets later are held too.
func Hold(ctx context.Context, pool *pgxpool.Pool, scope string, message schemas.ID) error {
	if _, err := pool.Exec(ctx, `UPDATE message_keys SET held = true WHERE scope = $1 AND message_id = $2`,
		scope, int64(message)); err != nil {
		return fmt.Errorf("hold message keys: %w", err)
	}
	return nil
}

// Release ends message's hold (its report was resolved). A message deleted
// meanwhile loses its keys now; erased says so.
func Release(ctx context.Context, pool *pgxpool.Pool, scope string, message schemas.ID) (erased bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM message_keys WHERE scope = $1 AND message_id = $2 AND erase_on_release`,
			scope, int64(message))
		if err != nil {
			return err
		}
		erased = tag.RowsAffected() > 0
		_, err = tx.Exec(ctx, `UPDATE message_keys SET held = false WHERE scope = $1 AND message_id = $2`, scope, int64(message))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release message keys: %w", err)
	}
	return erased, nil
}
