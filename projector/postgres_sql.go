package projector

// SQL of the PostgreSQL projector. Table shapes are in
// migrations/postgres; every statement here is idempotent on its own or
// gated by the room's seq under the room row's lock.

const (
	// pgEnsureOffsets creates the position rows of a batch's partitions, so
	// that the lock below always has a row to take: two instances that both
	// believe they own a partition (during a rebalance) serialise on it.
	pgEnsureOffsets = `INSERT INTO projector_offsets (projector, topic, partition, next_offset)
SELECT $1, v.t, v.p, v.o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS v(t, p, o)
ON CONFLICT DO NOTHING`

	pgLockOffsets = `SELECT topic, partition, next_offset FROM projector_offsets
WHERE projector = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
ORDER BY topic, partition
FOR UPDATE`

	// pgAdvanceOffsets only ever moves a position forward, so a stale
	// instance committing late cannot move it back.
	pgAdvanceOffsets = `UPDATE projector_offsets o SET next_offset = v.n
FROM unnest($2::text[], $3::int[], $4::bigint[]) AS v(t, p, n)
WHERE o.projector = $1 AND o.topic = v.t AND o.partition = v.p AND o.next_offset < v.n`

	pgReadOffsets = `SELECT topic, partition, next_offset FROM projector_offsets
WHERE projector = $1 AND topic = ANY($2)`

	// pgLoadRooms locks the rooms of a batch in id order (a fixed order
	// keeps two overlapping instances from deadlocking on each other).
	pgLoadRooms = `SELECT room_id, title, description, status, created_by, created_at, approved_at,
       member_count, message_count, last_message_at, last_message_id, last_seq
FROM rooms WHERE room_id = ANY($1) ORDER BY room_id FOR UPDATE`

	pgSaveRooms = `INSERT INTO rooms (room_id, title, description, status, created_by, created_at, approved_at,
       member_count, message_count, last_message_at, last_message_id, last_seq)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[],
       $7::timestamptz[], $8::int[], $9::bigint[], $10::timestamptz[], $11::bigint[], $12::bigint[])
ON CONFLICT (room_id) DO UPDATE SET
    title = EXCLUDED.title, description = EXCLUDED.description, status = EXCLUDED.status,
    created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at, approved_at = EXCLUDED.approved_at,
    member_count = EXCLUDED.member_count, message_count = EXCLUDED.message_count,
    last_message_at = EXCLUDED.last_message_at, last_message_id = EXCLUDED.last_message_id,
    last_seq = EXCLUDED.last_seq`

	pgInsertRoomMessages = `INSERT INTO room_messages (room_id, message_id, seq, ordinal)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[])
ON CONFLICT DO NOTHING`

	// pgJoin (topic rooms only: the members of private rooms and direct
	// messages are rows with topic = false, which it neither ends nor is
	// ended by) records membership $3 (user $2 in room $1) in one round trip.
	// The membership is already over if the user joined anywhere later
	// (partitions are read in any order): it ends at that next join. And
	// the join ends, at $3, every earlier membership of the user that is
	// still open or that ended later than $3: a membership ends at the
	// earliest event that ends it. (All parts see the same snapshot, so
	// "prev" never sees the row "ins" adds.)
	//
	// Rows: first (0, whether the new membership is current), then one
	// (room, true) per room that lost a current member.
	pgJoin = `WITH nxt AS (
    SELECT join_event_id, joined_at FROM members
    WHERE user_id = $2 AND topic AND join_event_id > $3
    ORDER BY join_event_id LIMIT 1),
ins AS (
    INSERT INTO members (room_id, user_id, join_event_id, nickname, joined_at, left_at, left_reason, ended_by)
    SELECT $1, $2, $3, $4, $5, nxt.joined_at,
           CASE WHEN nxt.join_event_id IS NULL THEN NULL ELSE 'switched' END, nxt.join_event_id
    FROM (SELECT 1) AS one LEFT JOIN nxt ON true
    ON CONFLICT DO NOTHING
    RETURNING ended_by IS NULL AS current),
prev AS (
    SELECT room_id, join_event_id, ended_by IS NULL AS was_open FROM members
    WHERE user_id = $2 AND topic AND join_event_id < $3 AND (ended_by IS NULL OR ended_by > $3)
    FOR UPDATE),
upd AS (
    UPDATE members m SET ended_by = $3, left_at = $5, left_reason = 'switched'
    FROM prev
    WHERE m.user_id = $2 AND m.room_id = prev.room_id AND m.join_event_id = prev.join_event_id
    RETURNING prev.room_id, prev.was_open)
SELECT 0::bigint, COALESCE((SELECT current FROM ins), false)
UNION ALL
SELECT room_id, true FROM upd WHERE was_open`

	// pgCloseMember ends, at leave $3, the user's latest membership of the
	// room begun before it, unless something earlier already ended it.
	pgCloseMember = `WITH m AS (
    SELECT room_id, user_id, join_event_id, ended_by IS NULL AS was_open FROM members
    WHERE room_id = $1 AND user_id = $2 AND join_event_id < $3
    ORDER BY join_event_id DESC LIMIT 1
    FOR UPDATE)
UPDATE members SET ended_by = $3, left_at = $4, left_reason = $5
FROM m
WHERE members.room_id = m.room_id AND members.user_id = m.user_id AND members.join_event_id = m.join_event_id
  AND (members.ended_by IS NULL OR members.ended_by > $3)
RETURNING m.was_open`

	// pgAddMember records a membership of a private room or a direct
	// message (member.added): it ends nothing. One row if it is new.
	pgAddMember = `INSERT INTO members (room_id, user_id, join_event_id, nickname, joined_at, topic)
VALUES ($1, $2, $3, $4, $5, false)
ON CONFLICT DO NOTHING
RETURNING true`

	// pgRoomKind records a private room's or a direct message's kind,
	// after the batch saved its row.
	pgRoomKind = `UPDATE rooms SET kind = $2, peer = $3 WHERE room_id = $1`

	pgDecMembers = `UPDATE rooms SET member_count = member_count - 1 WHERE room_id = $1`

	pgInsertUser = `INSERT INTO users (user_id, nickname, registered_at) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING`

	pgRenameUser = `UPDATE users SET nickname = $2 WHERE user_id = $1`

	// pgRenameMember renames, at member.renamed $3, the user's latest
	// membership of the room begun before it (the one the rename was
	// decided against).
	pgRenameMember = `UPDATE members SET nickname = $4
WHERE room_id = $1 AND user_id = $2 AND join_event_id = (
    SELECT max(join_event_id) FROM members WHERE room_id = $1 AND user_id = $2 AND join_event_id < $3)`

	// pgRecordRename keeps member.renamed $2 for the timeline (a replay
	// applies it again: nothing changes).
	pgRecordRename = `INSERT INTO renames (room_id, event_id, user_id, previous, nickname) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`

	// pgRecordModeration keeps a kick, a ban, an unban or a close for the
	// audit and the timeline (a replay applies it again: nothing changes).
	pgRecordModeration = `INSERT INTO moderation (room_id, event_id, seq, action, user_id, by_user, by_nickname, nickname, reason, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT DO NOTHING`

	pgMoveReadMark = `INSERT INTO read_marks (user_id, room_id, up_to) VALUES ($1, $2, $3)
ON CONFLICT (user_id, room_id) DO UPDATE SET up_to = GREATEST(read_marks.up_to, EXCLUDED.up_to)`

	pgDeadLetter = `INSERT INTO dead_letters (projector, topic, partition, "offset", key, value, error)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING`

	pgReadMeta  = `SELECT value FROM projector_meta WHERE key = $1`
	pgWriteMeta = `INSERT INTO projector_meta (key, value) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`
)

// pgViewTables are the tables the PostgreSQL projector owns: truncated when
// the log changes identity, swapped by a replay. (projector_migrations is not
// one of them: it describes the schema, not the log.)
var pgViewTables = []string{
	"users", "rooms", "members", "room_messages", "read_marks",
	"projector_offsets", "projector_meta", "dead_letters", "renames", "moderation",
	"blocks", "reports",
}
