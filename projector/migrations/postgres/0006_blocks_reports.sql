-- Blocks and reports (feature level 5, issue 20). blocks is each user's
-- current block list (block.added inserts, block.removed deletes): the
-- query service hides the blocked users' messages from the blocker with
-- it. reports is the admins' queue: one row per report.filed, resolved by
-- report.resolved. Neither holds a message's text: the queue reads it from
-- the history (ClickHouse), where a held message keeps it until resolved.
CREATE TABLE IF NOT EXISTS blocks (
    blocker    BIGINT      NOT NULL,
    blocked    BIGINT      NOT NULL,
    nickname   TEXT        NOT NULL,
    event_id   BIGINT      NOT NULL,
    blocked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (blocker, blocked)
);

CREATE TABLE IF NOT EXISTS reports (
    report_id         BIGINT      PRIMARY KEY,
    room_id           BIGINT      NOT NULL,
    message_id        BIGINT      NOT NULL,
    message_seq       BIGINT      NOT NULL,
    author_id         BIGINT      NOT NULL,
    author_nickname   TEXT        NOT NULL,
    reporter_id       BIGINT      NOT NULL,
    reporter_nickname TEXT        NOT NULL,
    reason            TEXT        NOT NULL,
    note              TEXT        NOT NULL DEFAULT '',
    filed_at          TIMESTAMPTZ NOT NULL,
    status            TEXT        NOT NULL DEFAULT 'open', -- open | resolved
    outcome           TEXT,                                -- dismissed | deleted
    erased            BOOLEAN     NOT NULL DEFAULT false,
    resolved_at       TIMESTAMPTZ,
    resolved_by       BIGINT                               -- the admin user; NULL for the admin token
);
CREATE INDEX IF NOT EXISTS reports_status ON reports (status, report_id);
