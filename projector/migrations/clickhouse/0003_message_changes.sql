-- Edits, deletes, replies, reactions and mentions (feature level 3, issue 18).

-- A message.sent v2 carries its reply (the original's id, author and preview
-- at send time) and its mentions. A delete inserts a tombstone row with the
-- same key (deleted = 1, no text, body or effects): reads take it over the
-- original (ORDER BY deleted DESC before LIMIT 1 BY id), and a merge keeps
-- only the last row inserted, the tombstone, which erases the text from the
-- merged part. Parts not merged yet still hold it: OPTIMIZE ... FINAL, or
-- the erasure of phase 2, docs/adr/0009-message-erasure.md.
ALTER TABLE messages ADD COLUMN deleted UInt8 DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to UInt64 DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_user UInt64 DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_nickname String DEFAULT '';
ALTER TABLE messages ADD COLUMN reply_preview String DEFAULT '';
ALTER TABLE messages ADD COLUMN reply_deleted UInt8 DEFAULT 0;
ALTER TABLE messages ADD COLUMN mentions Array(UInt64);

-- What happened to a message after it was sent, one row per (message, key):
-- key 'text' for its latest edit or its delete, 'r <user id> <emoji>' for a
-- member's reaction. The row of the highest seq wins (ReplacingMergeTree by
-- seq; reads take it with ORDER BY seq DESC LIMIT 1 BY id, key). A delete's
-- row has no text and replaces the edit's. One partition: the rows of one
-- key must meet to be replaced.
CREATE TABLE IF NOT EXISTS message_changes (
    room_id   UInt64,
    id        UInt64,            -- the message
    key       String,
    seq       UInt64,            -- the change's seq in the room
    kind      String,            -- 'edited' | 'deleted' | 'reaction_added' | 'reaction_removed'
    user_id   UInt64,            -- who changed it
    emoji     String,
    text      String,            -- an edit's text as sent; '' otherwise
    body      String,            -- softened
    effects   Array(String),
    at_ms     Int64,
    partition UInt32,
    offset    UInt64
) ENGINE = ReplacingMergeTree(seq)
ORDER BY (room_id, id, key);
