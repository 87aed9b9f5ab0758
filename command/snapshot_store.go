// The command service's PostgreSQL store: snapshots, evicted sends, Bloom
// chunks, node id leases, feature levels and room idempotency keys.

package command

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"happychat/internal/msgkeys"
	"happychat/schemas"
)

// snapshotStore keeps snapshots, evicted sends and Bloom chunks in
// PostgreSQL, keyed by the rooms topic's name (tests share a database).
type snapshotStore struct {
	pool  *pgxpool.Pool
	topic string
}

const storeSchema = `
CREATE TABLE IF NOT EXISTS command_snapshots (
  topic        text        NOT NULL,
  part         int         NOT NULL,
  off          bigint      NOT NULL,
  version      int         NOT NULL,
  taken_at     timestamptz NOT NULL,
  state        bytea       NOT NULL,
  state_sum    bytea       NOT NULL,
  win          bytea       NOT NULL,
  win_sum      bytea       NOT NULL,
  bloom_chunks int         NOT NULL,
  PRIMARY KEY (topic, part, off)
);
CREATE TABLE IF NOT EXISTS command_dedupe (
  topic    text   NOT NULL,
  part     int    NOT NULL,
  key_hash bigint NOT NULL,
  off      bigint NOT NULL,
  PRIMARY KEY (topic, part, key_hash, off)
);
CREATE TABLE IF NOT EXISTS command_messages (
  topic text   NOT NULL,
  part  int    NOT NULL,
  id    bigint NOT NULL, -- message id
  state bytea  NOT NULL, -- snapMsg as JSON: author, time, preview, tombstone, reactions; never the text
  PRIMARY KEY (topic, part, id)
);
CREATE TABLE IF NOT EXISTS command_bloom (
  topic text  NOT NULL,
  part  int   NOT NULL,
  chunk int   NOT NULL,
  keys  int   NOT NULL,
  bits  bytea NOT NULL,
  PRIMARY KEY (topic, part, chunk)
);
CREATE TABLE IF NOT EXISTS command_node_leases (
  scope      text        NOT NULL,
  node       int         NOT NULL,
  holder     text        NOT NULL,
  expires_at timestamptz NOT NULL,
  level      int         NOT NULL DEFAULT 1, -- feature level of the holder's build
  PRIMARY KEY (scope, node)
);
ALTER TABLE command_node_leases ADD COLUMN IF NOT EXISTS level int NOT NULL DEFAULT 1;
CREATE TABLE IF NOT EXISTS command_room_keys (
  scope      text        NOT NULL, -- the rooms topic
  caller     text        NOT NULL, -- user id, or "admin"
  key        text        NOT NULL, -- the Idempotency-Key header
  room       bigint      NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, caller, key)
);
CREATE TABLE IF NOT EXISTS command_features (
  scope text NOT NULL PRIMARY KEY,
  level int  NOT NULL
);`

// migrate creates the tables; instances starting at once take turns.
func (st *snapshotStore) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('happychat command schema'))`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, storeSchema+sessionCapSchema+passkeySchema+msgkeys.Schema)
		return err
	})
}

// save writes a snapshot with the sends it evicts and the Bloom chunks that
// changed, in one transaction, and keeps the newest two snapshots.
func (st *snapshotStore) save(ctx context.Context, c *capture, topicID string, next *bloomSet, changed []int) error {
	state, err := c.encodeState(topicID)
	if err != nil {
		return err
	}
	win, err := c.encodeWindow()
	if err != nil {
		return err
	}
	ss, ws := sha256.Sum256(state), sha256.Sum256(win)
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := st.writeEvicted(ctx, tx, c.part, c.evict, next, changed); err != nil {
			return err
		}
		if err := st.writeMessages(ctx, tx, c.part, c.evictMsgs); err != nil {
			return err
		}
		// A stored state of a deleted message may still hold its preview.
		if err := st.writeMessages(ctx, tx, c.part, c.erasedMsgs()); err != nil {
			return err
		}
		chunks := 0
		if next != nil {
			chunks = len(next.chunks)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO command_snapshots (topic, part, off, version, taken_at, state, state_sum, win, win_sum, bloom_chunks)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (topic, part, off) DO UPDATE SET
			version=EXCLUDED.version, taken_at=EXCLUDED.taken_at, state=EXCLUDED.state, state_sum=EXCLUDED.state_sum,
			win=EXCLUDED.win, win_sum=EXCLUDED.win_sum, bloom_chunks=EXCLUDED.bloom_chunks`,
			st.topic, c.part, c.offset, snapshotVersion, c.takenAt, state, ss[:], win, ws[:], chunks); err != nil {
			return fmt.Errorf("insert snapshot: %w", err)
		}
		if len(c.erased) > 0 {
			// The older snapshots hold the deleted texts: this one, which
			// does not, replaces them (a replay from the log opens no
			// deleted text either).
			_, err := tx.Exec(ctx, `DELETE FROM command_snapshots WHERE topic=$1 AND part=$2 AND off < $3`, st.topic, c.part, c.offset)
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM command_snapshots WHERE topic=$1 AND part=$2 AND off < (
			SELECT min(off) FROM (SELECT off FROM command_snapshots WHERE topic=$1 AND part=$2 ORDER BY off DESC LIMIT 2) newest)`,
			st.topic, c.part)
		return err
	})
}

// evict stores sends and messages leaving the owner's memory outside a
// snapshot (a long replay).
func (st *snapshotStore) evict(ctx context.Context, part int32, ev []evicted, next *bloomSet, changed []int, msgs []*msgMeta) error {
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := st.writeEvicted(ctx, tx, part, ev, next, changed); err != nil {
			return err
		}
		return st.writeMessages(ctx, tx, part, msgs)
	})
}

// writeMessages stores messages leaving the owner's table; a message that
// left before and came back (an edit, a reaction) is stored again.
func (st *snapshotStore) writeMessages(ctx context.Context, tx pgx.Tx, part int32, msgs []*msgMeta) error {
	if len(msgs) == 0 {
		return nil
	}
	ids, states := make([]int64, len(msgs)), make([][]byte, len(msgs))
	for i, m := range msgs {
		b, err := schemas.Marshal(toSnapMsg(m))
		if err != nil {
			return err
		}
		ids[i], states[i] = int64(m.id), b
	}
	if _, err := tx.Exec(ctx, `INSERT INTO command_messages (topic, part, id, state)
		SELECT $1, $2, i, s FROM unnest($3::bigint[], $4::bytea[]) AS t(i, s)
		ON CONFLICT (topic, part, id) DO UPDATE SET state = EXCLUDED.state`,
		st.topic, part, ids, states); err != nil {
		return fmt.Errorf("store messages leaving the table: %w", err)
	}
	return nil
}

// loadMessage reads back a message that left the owner's table.
func (st *snapshotStore) loadMessage(ctx context.Context, part int32, id schemas.ID) (*msgMeta, bool, error) {
	var b []byte
	err := st.pool.QueryRow(ctx, `SELECT state FROM command_messages WHERE topic=$1 AND part=$2 AND id=$3`,
		st.topic, part, int64(id)).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("message lookup: %w", err)
	}
	var s snapMsg
	if err := schemas.StrictUnmarshal(b, &s); err != nil {
		return nil, false, fmt.Errorf("message %d: %w", id, err)
	}
	return s.meta(), true, nil
}

func (st *snapshotStore) writeEvicted(ctx context.Context, tx pgx.Tx, part int32, ev []evicted, next *bloomSet, changed []int) error {
	if len(ev) == 0 {
		return nil
	}
	hashes, offs := make([]int64, len(ev)), make([]int64, len(ev))
	for i, e := range ev {
		hashes[i], offs[i] = e.hash, e.off
	}
	if _, err := tx.Exec(ctx, `INSERT INTO command_dedupe (topic, part, key_hash, off)
		SELECT $1, $2, h, o FROM unnest($3::bigint[], $4::bigint[]) AS t(h, o) ON CONFLICT DO NOTHING`,
		st.topic, part, hashes, offs); err != nil {
		return fmt.Errorf("insert evicted sends: %w", err)
	}
	for _, i := range changed {
		bits, err := next.chunks[i].MarshalBinary()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO command_bloom (topic, part, chunk, keys, bits) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (topic, part, chunk) DO UPDATE SET keys=EXCLUDED.keys, bits=EXCLUDED.bits`,
			st.topic, part, i, next.counts[i], bits); err != nil {
			return fmt.Errorf("write bloom chunk: %w", err)
		}
	}
	return nil
}

// states returns the offsets of the partition's snapshots, newest first.
func (st *snapshotStore) states(ctx context.Context, part int32) ([]int64, error) {
	rows, err := st.pool.Query(ctx, `SELECT off FROM command_snapshots
		WHERE topic=$1 AND part=$2 ORDER BY off DESC LIMIT 2`, st.topic, part)
	if err != nil {
		return nil, fmt.Errorf("read snapshots: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// state reads one snapshot's state body and checksum (one at a time: the
// bodies can be large).
func (st *snapshotStore) state(ctx context.Context, part int32, off int64) (body, sum []byte, err error) {
	err = st.pool.QueryRow(ctx, `SELECT state, state_sum FROM command_snapshots WHERE topic=$1 AND part=$2 AND off=$3`,
		st.topic, part, off).Scan(&body, &sum)
	return body, sum, err
}

// loadDedupe returns the owner's dedupe state from the newest sound
// snapshot, or an empty one at offset 0. maxOff bounds acceptable offsets
// (a snapshot past the log's end belongs to another log).
func (st *snapshotStore) loadDedupe(ctx context.Context, part int32, maxOff int64) (*dedupe, error) {
	rows, err := st.pool.Query(ctx, `SELECT off, win, win_sum, bloom_chunks FROM command_snapshots
		WHERE topic=$1 AND part=$2 AND off <= $3 ORDER BY off DESC LIMIT 2`, st.topic, part, maxOff)
	if err != nil {
		return nil, fmt.Errorf("read snapshot windows: %w", err)
	}
	type cand struct {
		off      int64
		win, sum []byte
		chunks   int
	}
	var cands []cand
	for rows.Next() {
		var c cand
		if err := rows.Scan(&c.off, &c.win, &c.sum, &c.chunks); err != nil {
			return nil, err
		}
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Bloom chunks only ever gain keys, so the stored chunks serve any
	// snapshot that names them (a superset never hides an evicted send).
	blooms, err := st.loadBloom(ctx, part)
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		w, t, err := decodeWindow(c.win, c.sum)
		if err != nil || c.chunks > len(blooms.chunks) {
			continue
		}
		return &dedupe{win: w, bloom: blooms, pos: c.off, msgs: t}, nil
	}
	if len(blooms.chunks) > 0 {
		// Sends were evicted but no snapshot window is usable: replay
		// the whole partition; the Bloom filter and the store keep
		// covering what was evicted.
		return &dedupe{win: newWindow(), bloom: blooms, pos: 0, msgs: newMsgTable()}, nil
	}
	return &dedupe{win: newWindow(), pos: 0, msgs: newMsgTable()}, nil
}

func (st *snapshotStore) loadBloom(ctx context.Context, part int32) (*bloomSet, error) {
	rows, err := st.pool.Query(ctx, `SELECT chunk, keys, bits FROM command_bloom WHERE topic=$1 AND part=$2 ORDER BY chunk`, st.topic, part)
	if err != nil {
		return nil, fmt.Errorf("read bloom chunks: %w", err)
	}
	defer rows.Close()
	b := &bloomSet{}
	for rows.Next() {
		var (
			chunk, keys int
			bits        []byte
		)
		if err := rows.Scan(&chunk, &keys, &bits); err != nil {
			return nil, err
		}
		if chunk != len(b.chunks) {
			return nil, fmt.Errorf("bloom chunk %d missing", len(b.chunks))
		}
		f := &bloom.BloomFilter{}
		if err := f.UnmarshalBinary(bits); err != nil {
			return nil, fmt.Errorf("bloom chunk %d: %w", chunk, err)
		}
		b.chunks = append(b.chunks, f)
		b.counts = append(b.counts, keys)
	}
	return b, rows.Err()
}

// lookup returns the offsets stored for a key hash.
func (st *snapshotStore) lookup(ctx context.Context, part int32, hash int64) ([]int64, error) {
	rows, err := st.pool.Query(ctx, `SELECT off FROM command_dedupe WHERE topic=$1 AND part=$2 AND key_hash=$3 ORDER BY off`,
		st.topic, part, hash)
	if err != nil {
		return nil, fmt.Errorf("dedupe lookup: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// roomForKey returns the room id recorded for a caller's idempotency key,
// recording id if there is none yet.
func (st *snapshotStore) roomForKey(ctx context.Context, caller, key string, id schemas.ID) (schemas.ID, error) {
	var got schemas.ID
	err := st.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO command_room_keys (scope, caller, key, room) VALUES ($1, $2, $3, $4)
			ON CONFLICT (scope, caller, key) DO NOTHING RETURNING room)
		SELECT room FROM ins UNION ALL
		SELECT room FROM command_room_keys WHERE scope = $1 AND caller = $2 AND key = $3
		LIMIT 1`, st.topic, caller, key, int64(id)).Scan(&got)
	return got, err
}
