-- Every member.renamed of a room, so that the timeline shows "Mina is now
-- Mira" after a reload as the socket showed it live (issue 17): members
-- keeps only the latest nickname of a membership.
CREATE TABLE IF NOT EXISTS renames (
    room_id   BIGINT NOT NULL,
    event_id  BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    previous  TEXT   NOT NULL,
    nickname  TEXT   NOT NULL,
    PRIMARY KEY (room_id, event_id)
);
