-- What the projector needs beyond 0001. ClickHouse 18.16 has no
-- ADD COLUMN IF NOT EXISTS: the migration runner tolerates a column that
-- already exists (a crash between the ALTER and recording the version).

-- The generation of the history tables a row was written for. A replay
-- builds new tables under epoch N+1 and swaps them in; the live projector
-- resumes from max(offset) over the rows of the current epoch only, so rows it
-- wrote into the new tables before it noticed the swap never make it skip
-- anything.
ALTER TABLE room_events ADD COLUMN epoch UInt64 DEFAULT 0;

-- Records the ClickHouse projector could not decode: recorded, counted and
-- skipped. Each also gets a room_events row under room_id 0 (type
-- 'dead_letter', seq = partition << 40 | offset), so that room_events indexes
-- every record of the rooms topic and alone gives the resume positions.
CREATE TABLE IF NOT EXISTS dead_letters (
    topic       String,
    partition   UInt32,
    offset      UInt64,
    key         String,
    value       String,
    error       String,
    recorded_at DateTime,
    epoch       UInt64
) ENGINE = ReplacingMergeTree()
ORDER BY (topic, partition, offset);

-- Small facts about the history tables: the identity (topic id) of the log
-- they were built from, and the current epoch. Read with FINAL.
CREATE TABLE IF NOT EXISTS projector_meta (
    key     String,
    value   String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key;
