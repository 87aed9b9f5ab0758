package msgkeys

import (
	"context"
	"fmt"

	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
// it deletes, in db: the command service commits it before it commits the
// batch's append, so a key is durable before its event is acknowledged. db
// is a transaction when it erases (three statements), and may be a pool
// when it only stores keys (one statement). A new key of
// a held message is held too; a deleted message that is held keeps its keys
// (marked to be destroyed on release, see Release).
func Write(ctx context.Context, db Execer, scope string, keys []Key, erase []schemas.ID) error {
	if len(keys) > 0 {
		ids, msgs, secrets := make([]string, len(keys)), make([]int64, len(keys)), make([][]byte, len(keys))
		for i, k := range keys {
			ids[i], msgs[i], secrets[i] = k.ID, int64(k.Message), k.Secret
		}
		if _, err := db.Exec(ctx, `INSERT INTO message_keys (scope, key_id, message_id, secret, held)
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
	if _, err := db.Exec(ctx, `DELETE FROM message_keys WHERE scope = $1 AND message_id = ANY($2)
		AND message_id NOT IN (SELECT message_id FROM message_keys WHERE scope = $1 AND message_id = ANY($2) AND held)`,
		scope, ids); err != nil {
		return fmt.Errorf("destroy message keys: %w", err)
	}
	if _, err := db.Exec(ctx, `UPDATE message_keys SET erase_on_release = true
		WHERE scope = $1 AND message_id = ANY($2)`, scope, ids); err != nil {
		return fmt.Errorf("mark held message keys: %w", err)
	}
	return nil
}

// Execer is what Hold, Release and Held run on: a transaction (the
// command's batch) or a pool.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Hold keeps the messages' keys through a delete until Release: the rule
// for a message under an open abuse report. The command service calls it
// in the transaction of the batch that files the report, before Write, so
// a delete in the same batch already finds the hold. Keys the messages get
// later (an edit's) are held too (Write).
func Hold(ctx context.Context, db Execer, scope string, messages []schemas.ID) error {
	if len(messages) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, `UPDATE message_keys SET held = true WHERE scope = $1 AND message_id = ANY($2)`,
		scope, int64s(messages)); err != nil {
		return fmt.Errorf("hold message keys: %w", err)
	}
	return nil
}

// Release ends the messages' holds (their reports were resolved), after
// Write in the batch's transaction: a message deleted meanwhile, or by the
// same batch, loses its keys now. It returns the messages it erased so.
func Release(ctx context.Context, db Execer, scope string, messages []schemas.ID) ([]schemas.ID, error) {
	if len(messages) == 0 {
		return nil, nil
	}
	rows, err := db.Query(ctx, `DELETE FROM message_keys WHERE scope = $1 AND message_id = ANY($2) AND erase_on_release
		RETURNING message_id`, scope, int64s(messages))
	if err != nil {
		return nil, fmt.Errorf("release message keys: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("release message keys: %w", err)
	}
	if _, err := db.Exec(ctx, `UPDATE message_keys SET held = false WHERE scope = $1 AND message_id = ANY($2)`,
		scope, int64s(messages)); err != nil {
		return nil, fmt.Errorf("release message keys: %w", err)
	}
	out := make([]schemas.ID, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, schemas.ID(id)) {
			out = append(out, schemas.ID(id))
		}
	}
	return out, nil
}

// Held returns which of messages are under a hold now. The ClickHouse
// projector asks it for the messages a batch deletes: a held message keeps
// its text there, for the moderators' queue, until its report.resolved
// (docs/adr/0009).
func Held(ctx context.Context, db Execer, scope string, messages []schemas.ID) (map[schemas.ID]bool, error) {
	out := map[schemas.ID]bool{}
	if len(messages) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, `SELECT DISTINCT message_id FROM message_keys WHERE scope = $1 AND message_id = ANY($2) AND held`,
		scope, int64s(messages))
	if err != nil {
		return nil, fmt.Errorf("read message holds: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("read message holds: %w", err)
	}
	for _, id := range ids {
		out[schemas.ID(id)] = true
	}
	return out, nil
}

func int64s(ids []schemas.ID) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}
