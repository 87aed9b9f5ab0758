package notifier

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"happychat/schemas"
)

// The notifier's own tables. Unlike the views they are not rebuilt from the
// log: a subscription is a device's secret, given to this service only.
const migrateSQL = `
CREATE TABLE IF NOT EXISTS push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    p256dh     TEXT        NOT NULL,
    auth       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS push_subscriptions_user ON push_subscriptions (user_id);
CREATE TABLE IF NOT EXISTS push_mutes (
    user_id BIGINT NOT NULL,
    room_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);
-- The highest seq of a room pushed (or given up) to a user: never pushed again.
CREATE TABLE IF NOT EXISTS push_watermarks (
    user_id BIGINT NOT NULL,
    room_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);`

// An endpoint is one browser's: posting it again (the same user, or
// another who logged in there since) makes it that user's with its new keys.
const upsertSubscriptionSQL = `
INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth) VALUES ($1, $2, $3, $4)
ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth`

// recipientsSQL: for each (room, sender) of $1 and $2, the current members
// of the room other than the sender who have a subscription, whether each
// muted the room, and its watermark. A member who blocks the sender (the
// projector's blocks view, feature level 5) is not pushed: the sender's
// messages are hidden for them.
const recipientsSQL = `
SELECT q.room_id, q.sender, m.user_id, mu.user_id IS NOT NULL, COALESCE(w.seq, 0)
FROM unnest($1::bigint[], $2::bigint[]) AS q(room_id, sender)
JOIN members m ON m.room_id = q.room_id AND m.left_at IS NULL AND m.user_id <> q.sender
LEFT JOIN push_mutes mu ON mu.user_id = m.user_id AND mu.room_id = m.room_id
LEFT JOIN push_watermarks w ON w.user_id = m.user_id AND w.room_id = m.room_id
WHERE EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = m.user_id)
  AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = m.user_id AND b.blocked = q.sender)
GROUP BY q.room_id, q.sender, m.user_id, mu.user_id, w.seq`

// migrate creates the notifier's tables.
func (s *Service) migrate(ctx context.Context) error {
	if _, err := s.cfg.PG.Exec(ctx, migrateSQL); err != nil {
		return fmt.Errorf("notifier migrations: %w", err)
	}
	return nil
}

// saveSubscription stores sub for user, refusing the user's
// MaxSubscriptions+1st (an endpoint already stored does not count twice).
// The per-user advisory lock makes the count and the insert one decision.
func (s *Service) saveSubscription(ctx context.Context, user schemas.ID, sub Subscription) error {
	return pgx.BeginFunc(ctx, s.cfg.PG, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(user)); err != nil {
			return fmt.Errorf("lock subscriptions: %w", err)
		}
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM push_subscriptions WHERE user_id = $1 AND endpoint <> $2`,
			int64(user), sub.Endpoint).Scan(&n)
		if err != nil {
			return fmt.Errorf("count subscriptions: %w", err)
		}
		if n >= s.cfg.MaxSubscriptions {
			return schemas.Errorf(schemas.CodeConflict, fmt.Sprintf(
				"too many push subscriptions: at most %d per user; delete one (DELETE /v1/push/subscriptions) first", s.cfg.MaxSubscriptions))
		}
		if _, err := tx.Exec(ctx, upsertSubscriptionSQL, sub.Endpoint, int64(user), sub.Keys.P256dh, sub.Keys.Auth); err != nil {
			return fmt.Errorf("save subscription: %w", err)
		}
		return nil
	})
}

// deleteSubscription removes the user's subscription at endpoint (none is
// no error: the client's aim, no subscription there, holds).
func (s *Service) deleteSubscription(ctx context.Context, user schemas.ID, endpoint string) error {
	if _, err := s.cfg.PG.Exec(ctx, `DELETE FROM push_subscriptions WHERE endpoint = $1 AND user_id = $2`, endpoint, int64(user)); err != nil {
		return fmt.Errorf("delete subscription: %w", err)
	}
	return nil
}

// dropEndpoint removes a subscription the push service says is gone.
func (s *Service) dropEndpoint(ctx context.Context, endpoint string) error {
	if _, err := s.cfg.PG.Exec(ctx, `DELETE FROM push_subscriptions WHERE endpoint = $1`, endpoint); err != nil {
		return fmt.Errorf("drop subscription: %w", err)
	}
	return nil
}

// subscriptionsOf returns the user's subscriptions.
func (s *Service) subscriptionsOf(ctx context.Context, user schemas.ID) ([]Subscription, error) {
	rows, err := s.cfg.PG.Query(ctx, `SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = $1`, int64(user))
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
		var sub Subscription
		err := r.Scan(&sub.Endpoint, &sub.Keys.P256dh, &sub.Keys.Auth)
		return sub, err
	})
}

// roomTitle returns a room's title from the views; ok is false when the
// views do not know the room.
func (s *Service) roomTitle(ctx context.Context, room schemas.ID) (title string, ok bool, err error) {
	err = s.cfg.PG.QueryRow(ctx, `SELECT title FROM rooms WHERE room_id = $1`, int64(room)).Scan(&title)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("room title: %w", err)
	}
	return title, true, nil
}

// roomView is what the notifier reads of a room in the views: its title and
// the highest seq they applied.
type roomView struct {
	title string
	seq   int64
}

// roomsAt returns the views of the rooms (a room they do not hold yet is
// absent).
func (s *Service) roomsAt(ctx context.Context, rooms []schemas.ID) (map[schemas.ID]roomView, error) {
	ids := make([]int64, len(rooms))
	for i, r := range rooms {
		ids[i] = int64(r)
	}
	rows, err := s.cfg.PG.Query(ctx, `SELECT room_id, title, last_seq FROM rooms WHERE room_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	out := make(map[schemas.ID]roomView, len(rooms))
	var id int64
	var v roomView
	_, err = pgx.ForEachRow(rows, []any{&id, &v.title, &v.seq}, func() error {
		out[schemas.ID(id)] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	return out, nil
}

// setMute mutes (or unmutes) room for user.
func (s *Service) setMute(ctx context.Context, user, room schemas.ID, muted bool) error {
	q := `INSERT INTO push_mutes (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	if !muted {
		q = `DELETE FROM push_mutes WHERE user_id = $1 AND room_id = $2`
	}
	if _, err := s.cfg.PG.Exec(ctx, q, int64(user), int64(room)); err != nil {
		return fmt.Errorf("mute: %w", err)
	}
	return nil
}

// mutes returns the rooms the user muted.
func (s *Service) mutes(ctx context.Context, user schemas.ID) ([]schemas.ID, error) {
	rows, err := s.cfg.PG.Query(ctx, `SELECT room_id FROM push_mutes WHERE user_id = $1 ORDER BY room_id`, int64(user))
	if err != nil {
		return nil, fmt.Errorf("mutes: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[schemas.ID])
}

// recipient is a member who may be pushed a room's message.
type recipient struct {
	user      schemas.ID
	muted     bool
	watermark int64
}

// roomSender is a room and the sender of a message in it.
type roomSender struct{ room, sender schemas.ID }

// recipients returns, for each pair, the room's members with a
// subscription, the sender aside; one query for them all.
func (s *Service) recipients(ctx context.Context, pairs map[roomSender]struct{}) (map[roomSender][]recipient, error) {
	rooms, senders := make([]int64, 0, len(pairs)), make([]int64, 0, len(pairs))
	for p := range pairs {
		rooms, senders = append(rooms, int64(p.room)), append(senders, int64(p.sender))
	}
	rows, err := s.cfg.PG.Query(ctx, recipientsSQL, rooms, senders)
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	out := make(map[roomSender][]recipient, len(pairs))
	var room, sender int64
	var rc recipient
	_, err = pgx.ForEachRow(rows, []any{&room, &sender, &rc.user, &rc.muted, &rc.watermark}, func() error {
		k := roomSender{schemas.ID(room), schemas.ID(sender)}
		out[k] = append(out[k], rc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recipients: %w", err)
	}
	return out, nil
}

// claim moves the (user, room) watermark up to seq and reports whether it
// moved: only the one who moves it pushes.
func (s *Service) claim(ctx context.Context, user, room schemas.ID, seq int64) (bool, error) {
	tag, err := s.cfg.PG.Exec(ctx, `
INSERT INTO push_watermarks (user_id, room_id, seq) VALUES ($1, $2, $3)
ON CONFLICT (user_id, room_id) DO UPDATE SET seq = EXCLUDED.seq WHERE push_watermarks.seq < EXCLUDED.seq`,
		int64(user), int64(room), seq)
	if err != nil {
		return false, fmt.Errorf("watermark: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}
