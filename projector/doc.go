// Package projector builds the read models of happychat from the event log:
// the PostgreSQL views (rooms, members, users, room_messages, read_marks) and
// the ClickHouse history (messages, room_events). It owns their DDL
// (migrations/, applied by Migrate) and their rebuild (Replay). Queries read
// these tables; nothing but this package writes them.
//
// # Exactly once, without Kafka transactions
//
// Both projectors consume with a consumer group only to spread partitions
// among instances; they never commit offsets to Kafka. Positions live in the
// store, next to the data, and are loaded on every assignment:
//
//   - PostgreSQL: one transaction per batch holds the view changes and the
//     batch's positions (projector_offsets), whose rows it locks first; a
//     position only moves forward. Room events are applied only if their seq
//     is above the room's last_seq (the room row is locked for the batch), so
//     a record applied twice changes nothing; user events are idempotent by
//     nature (insert-if-absent, GREATEST).
//   - ClickHouse: rows carry their partition and offset; the projector
//     resumes from max(offset)+1 of room_events (every room event is indexed
//     there) and inserts messages before room_events, so a crash only ever
//     re-inserts rows, which ReplacingMergeTree collapses on (room_id, id).
//     Exact reads use FINAL (or LIMIT 1 BY id / uniqExact(id)).
//
// # Membership is a fold
//
// A membership ends at the earliest event that ends it: a later room.joined
// of the same user in any room, or the room.left that closes it. Whatever
// order the partitions are read in, the same events give the same rows.
//
// # Concurrency
//
// A Postgres or ClickHouse projector runs one consumer loop (Run) that
// applies batches one at a time; several instances may run at once (they
// serialise on the position rows in PostgreSQL, and duplicate inserts
// collapse in ClickHouse). Replay runs beside the live projectors: they
// notice the switch (a position behind theirs in PostgreSQL, a new epoch in
// ClickHouse) and resume from the new tables.
package projector
