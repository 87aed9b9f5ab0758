-- Message history and the room event index. ReplacingMergeTree collapses
-- the duplicates a replay or a crash may insert; exact reads use FINAL or
-- LIMIT 1 BY. Written for ClickHouse 18.16 and current versions alike: no
-- DateTime64, no Map, no window functions.

CREATE TABLE IF NOT EXISTS messages (
    room_id       UInt64,
    id            UInt64,            -- message (event) id, a snowflake
    seq           UInt64,
    user_id       UInt64,
    nickname      String,
    text          String,            -- as sent
    body          String,            -- softened by the rules below
    effects       Array(String),
    client_msg_id String,
    sent_ms       Int64,             -- occurred_at, ms since the Unix epoch
    sent_at       DateTime,          -- the same, in seconds, for bucketing
    rules_version String,            -- version of the softening rules applied
    partition     UInt32,
    offset        UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(sent_at)
ORDER BY (room_id, id);

-- Every room event (message, join, leave, ...) by room and seq, with where
-- it sits on the log: realtime resumes a client from any seq through it, and
-- the ClickHouse projector resumes from max(offset) per partition.
CREATE TABLE IF NOT EXISTS room_events (
    room_id     UInt64,
    seq         UInt64,
    id          UInt64,
    type        String,
    user_id     UInt64,
    occurred_ms Int64,
    occurred_at DateTime,
    partition   UInt32,
    offset      UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (room_id, seq);
