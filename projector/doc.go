// Package projector builds the read models of happychat from the event log:
// the PostgreSQL views (rooms, members, users, room_messages, read_marks) and
// the ClickHouse history (messages, room_events). It owns their DDL
// (migrations/, applied by Migrate) and their rebuild (Replay). Queries read
// these tables; nothing but this package writes them. docs/projector.md
// describes every table and the operations.
//
// The files, one concern each:
//
//   - postgres.go, postgres_sink.go, postgres_apply.go, postgres_fold.go,
//     postgres_sql.go: the PostgreSQL projector (NewPostgres), its sink and
//     positions, the batch transaction, how each event folds into the views,
//     and its SQL;
//   - clickhouse.go, clickhouse_sink.go, clickhouse_insert.go,
//     clickhouse_rows.go: the ClickHouse projector (NewClickHouse), the sink
//     that buffers rows, its pipelined inserts, and the rows themselves;
//   - migrate.go: Migrate, the versioned DDL of both stores;
//   - replay.go, replay_postgres.go, replay_clickhouse.go, replay_tracker.go:
//     Replay, the rebuild and switch of each store, and its progress;
//   - metrics.go: the metrics both projectors share;
//   - upgrade.go: rolling upgrades: the advertised feature level
//     (internal/fleet) and the partitions blocked at an event this build
//     does not know (/readyz, the gauge, a replay's failure);
//   - internal/feed: the Kafka loop; the projectors see decoded envelopes
//     with their partition and offset, never Kafka types.
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
//     resumes from max(offset)+1 of room_events, which indexes every record
//     of the rooms topic and is inserted after messages and dead letters, so
//     a crash only ever re-inserts rows, which ReplacingMergeTree collapses.
//     Exact reads use FINAL (or LIMIT 1 BY id / uniqExact(id)).
//
// Views built from another log (the stored topic ids differ from the live
// ones) are truncated and rebuilt from offset 0 when a projector starts.
//
// # Membership is a fold
//
// A membership ends at the earliest event that ends it: a later room.joined
// of the same user in any room, or the room.left that closes it. Whatever
// order the partitions are read in, the same events give the same rows.
//
// # Concurrency
//
// A Postgres or ClickHouse projector runs one consumer loop (Run) applying
// batches one after another; the ClickHouse projector inserts a batch while
// it reads the next (one insert in flight, in order). Several instances may
// run at once: they serialise on the position rows in PostgreSQL, and their
// duplicate inserts collapse in ClickHouse. Replay runs beside the live
// projectors, which notice the switch (a stored position behind theirs in
// PostgreSQL, a new epoch in ClickHouse) and resume from the new tables.
// Run must not be called twice at once on the same projector.
package projector
