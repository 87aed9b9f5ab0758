-- Private rooms and direct messages (feature level 4, issue 20).

-- A room's kind: 'topic' (listed, one at a time), 'private' or 'direct'
-- (never listed, members only). peer is a direct message's other user
-- (created_by is the one who opened it).
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'topic';
ALTER TABLE rooms ADD COLUMN IF NOT EXISTS peer BIGINT;

-- Whether a membership counts toward one topic room at a time: a join of
-- a topic room ends the user's other topic memberships only, and a
-- membership of a private room or a direct message (member.added) ends
-- nothing and is ended by no join.
ALTER TABLE members ADD COLUMN IF NOT EXISTS topic BOOLEAN NOT NULL DEFAULT true;

-- A user's current private rooms and direct messages (GET /v1/conversations).
CREATE INDEX IF NOT EXISTS members_conversations ON members (user_id) WHERE NOT topic AND left_at IS NULL;
