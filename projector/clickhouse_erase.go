package projector

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"happychat/projector/internal/feed"
	"happychat/schemas"
)

// open replaces the sealed texts of the batch's room events with their
// plaintext (or marks them erased) before they are buffered: the history
// stores texts in the clear, for search and exports, until the message is
// deleted (docs/adr/0009).
func (s *chSink) open(ctx context.Context, recs []feed.Record) error {
	var at []int
	for i := range recs {
		if recs[i].Topic == s.rooms && recs[i].Err == nil {
			at = append(at, i)
		}
	}
	if len(at) == 0 {
		return nil
	}
	envs := make([]schemas.Envelope, len(at))
	for j, i := range at {
		envs[j] = recs[i].Env
	}
	if err := s.keys.Open(ctx, envs); err != nil {
		return fmt.Errorf("open message texts: %w", err)
	}
	for j, i := range at {
		recs[i].Env = envs[j]
	}
	return nil
}

// eraseTexts removes the texts of deleted messages from every part of the
// history, merged or not: the tombstone rows just inserted replace the
// originals only when ClickHouse merges them, which may be never for a
// part that is not merged again, and a plain SELECT (without FINAL) reads
// every active part. Three mutations per batch with deletes, whatever its
// size (docs/adr/0009 weighs their cost): the messages' original rows, the
// texts of their edits, and the previews their replies captured. They run
// in the background (mutations_sync 0): the insert does not wait for the
// parts to be rewritten.
func (s *chSink) eraseTexts(ctx context.Context, ids []uint64) error {
	if len(ids) == 0 {
		return nil
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	list := b.String()
	for _, q := range []string{
		fmt.Sprintf(`ALTER TABLE %s DELETE WHERE id IN (%s) AND deleted = 0`, s.tables.messages, list),
		fmt.Sprintf(`ALTER TABLE %s DELETE WHERE id IN (%s) AND kind = 'edited'`, s.tables.changes, list),
		fmt.Sprintf(`ALTER TABLE %s UPDATE reply_preview = '', reply_deleted = 1 WHERE reply_to IN (%s) AND reply_preview != ''`,
			s.tables.messages, list),
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// unheld drops from ids the messages under a hold (an open report): their
// texts stay in the history, tombstoned in every view, for the admins'
// queue, until the report.resolved that ends the hold erases them
// (chRows.released). The hold is the key store's (committed before the
// report.filed that precedes the delete in the log), so a replay agrees:
// during the hold it keeps the text too, after it the text opens as erased.
func (s *chSink) unheld(ctx context.Context, ids []uint64) ([]uint64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	msgs := make([]schemas.ID, len(ids))
	for i, id := range ids {
		msgs[i] = schemas.ID(id)
	}
	held, err := s.keys.Held(ctx, msgs)
	if err != nil || len(held) == 0 {
		return ids, err
	}
	out := make([]uint64, 0, len(ids))
	for _, id := range ids {
		if !held[schemas.ID(id)] {
			out = append(out, id)
		}
	}
	return out, nil
}
