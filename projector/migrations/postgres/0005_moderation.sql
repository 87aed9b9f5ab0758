-- Moderation of rooms (feature level 5, issue 20): the audit view of every
-- kick, ban, unban and close, in log order per room. The memberships a kick
-- or a ban ended are in members (left_reason 'removed' / 'banned'), a closed
-- room's status is 'closed' in rooms; this table says who did it, when, and
-- why. by_user is NULL when an admin acted (the admin token names no user);
-- user_id is NULL for a close. The current bans of a room are its users
-- whose latest 'banned' row has no later 'unbanned' one.
CREATE TABLE IF NOT EXISTS moderation (
    room_id     BIGINT      NOT NULL,
    event_id    BIGINT      NOT NULL,
    seq         BIGINT      NOT NULL,
    action      TEXT        NOT NULL,            -- 'removed' | 'banned' | 'unbanned' | 'closed'
    user_id     BIGINT,
    by_user     BIGINT,
    by_nickname TEXT        NOT NULL DEFAULT '',
    nickname    TEXT        NOT NULL DEFAULT '',
    reason      TEXT        NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
CREATE INDEX IF NOT EXISTS moderation_by_user ON moderation (room_id, user_id, event_id DESC);
