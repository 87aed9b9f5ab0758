-- What the projector needs beyond 0001.

-- The event that ended a membership: a later room.joined of the same user
-- (reason 'switched') or the room.left that closed it. A membership ends at
-- the earliest such event whatever order the partitions are read in, which
-- makes the members view a fold (the same events give the same rows).
-- NULL while the membership is current (left_at IS NULL too).
ALTER TABLE members ADD COLUMN IF NOT EXISTS ended_by BIGINT;

-- Dead letters of the PostgreSQL projector, newest first, for operators.
CREATE INDEX IF NOT EXISTS dead_letters_recent ON dead_letters (recorded_at DESC);
