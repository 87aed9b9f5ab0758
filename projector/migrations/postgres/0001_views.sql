-- Views of the rooms and users topics. Every table is disposable: it can be
-- dropped and rebuilt from the log (happychat replay).

CREATE TABLE IF NOT EXISTS users (
    user_id       BIGINT PRIMARY KEY,
    nickname      TEXT        NOT NULL,
    registered_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS rooms (
    room_id         BIGINT PRIMARY KEY,
    title           TEXT        NOT NULL,
    description     TEXT        NOT NULL DEFAULT '',
    status          TEXT        NOT NULL,            -- 'open' | 'proposed'
    created_by      BIGINT,                          -- NULL: the operator
    created_at      TIMESTAMPTZ NOT NULL,
    approved_at     TIMESTAMPTZ,
    member_count    INTEGER     NOT NULL DEFAULT 0,
    message_count   BIGINT      NOT NULL DEFAULT 0,
    last_message_at TIMESTAMPTZ,
    last_message_id BIGINT,
    last_seq        BIGINT      NOT NULL DEFAULT 0   -- highest seq applied: events with seq <= last_seq are skipped
);
CREATE INDEX IF NOT EXISTS rooms_busiest ON rooms (status, member_count DESC, last_message_at DESC NULLS LAST);

-- One row per membership (a user may join the same room many times).
CREATE TABLE IF NOT EXISTS members (
    room_id       BIGINT      NOT NULL,
    user_id       BIGINT      NOT NULL,
    join_event_id BIGINT      NOT NULL,
    nickname      TEXT        NOT NULL,
    joined_at     TIMESTAMPTZ NOT NULL,
    left_at       TIMESTAMPTZ,
    left_reason   TEXT,                              -- 'left' | 'switched'
    PRIMARY KEY (room_id, user_id, join_event_id)
);
CREATE INDEX IF NOT EXISTS members_current ON members (room_id) WHERE left_at IS NULL;
CREATE INDEX IF NOT EXISTS members_by_user ON members (user_id, join_event_id DESC);

-- Every message id of a room with its ordinal, so unread counts are
-- message_count minus the ordinal of the read mark (an index lookup).
CREATE TABLE IF NOT EXISTS room_messages (
    room_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    ordinal BIGINT NOT NULL,                         -- 1-based position among the room's messages
    PRIMARY KEY (room_id, message_id)
);

CREATE TABLE IF NOT EXISTS read_marks (
    user_id BIGINT NOT NULL,
    room_id BIGINT NOT NULL,
    up_to   BIGINT NOT NULL,                         -- message id; only moves forward (GREATEST)
    PRIMARY KEY (user_id, room_id)
);

-- Consumed offsets, written in the same transaction as the view change.
-- next_offset only moves forward: UPDATE ... WHERE next_offset < new.
CREATE TABLE IF NOT EXISTS projector_offsets (
    projector   TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset BIGINT  NOT NULL,
    PRIMARY KEY (projector, topic, partition)
);

-- Identity of the log the views were built from (topic ids); a different
-- log (a fresh broker) means the views are rebuilt from scratch.
CREATE TABLE IF NOT EXISTS projector_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS dead_letters (
    id          BIGSERIAL PRIMARY KEY,
    projector   TEXT        NOT NULL,
    topic       TEXT        NOT NULL,
    partition   INTEGER     NOT NULL,
    "offset"    BIGINT      NOT NULL,
    key         BYTEA,
    value       BYTEA,
    error       TEXT        NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (projector, topic, partition, "offset")
);
