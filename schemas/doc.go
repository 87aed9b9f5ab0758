// Package schemas is the vocabulary of happychat: every event is defined here
// once, with an explicit versioned wire name (never a Go type name), together
// with the envelope that carries it, the topics and their keys, the consumer
// group names, the snowflake id type and its layout, the API's JSON types and
// the wire error codes. Mechanisms have packages of their own: idgen mints
// ids, token issues and verifies session tokens, moderation softens text and
// finds effects, jsonschema describes the events for other languages.
//
// # Consumer obligations
//
// Every consumer of the event topics must assume:
//
//   - At-least-once delivery. A record may be delivered again after a crash,
//     a rebalance or a replay. Apply events idempotently, keyed by the event
//     id (or, for room events, by the room's seq).
//   - Order only within a room. All events of one room live on one partition
//     of the rooms topic (key = room id, Kafka's murmur2 partitioner) and carry
//     the room's gap-free seq 1, 2, 3, …; there is no order across rooms, and
//     none between the rooms topic and the users topic.
//   - Closed set of events. A record whose type or version is unknown to this
//     build is an error for the decoder; consumers dead-letter it and go on.
//     When the type or version is merely newer than this build's, the error
//     also wraps ErrUnknownEvent, telling it apart from a malformed record.
//     Feature levels (FeatureLevel) keep writers from emitting such events
//     before every instance runs a build that reads them. Old versions are
//     upcast to the current one on decode, so consumers only ever see the
//     newest shape of each event.
//   - Membership is a fold: a user's room is the room of their latest
//     room.joined by event id; an earlier membership ends when a later join
//     exists, in whatever order partitions are read.
package schemas
