// Package query is the read side of happychat: the room list and room
// details from the PostgreSQL views, message history, exports and analytics
// from the ClickHouse history, served over HTTP under /v1 exactly as the API
// contract (API.md) and docs/openapi.yaml describe.
//
// It owns no data: the projectors fill both stores, and the query service
// only reads the tables defined in projector/migrations. It never softens a
// body (the projector stored the softened body and its effects already).
//
// # What it guarantees
//
//   - History pages are keyset pages on the message id (never OFFSET, never a
//     timestamp): a page never skips or repeats a message, also while new
//     messages arrive and while a replay's duplicates are not merged yet
//     (every read of the history deduplicates with LIMIT 1 BY id).
//   - Every multi-row read iterates a cursor. The export writes each row to
//     the client as it is read, in windows of the id space, so its memory does
//     not depend on the room's size; a client that goes away cancels the query.
//   - Every store call runs under a timeout; analytics ranges are bounded.
//   - Nothing a client sends reaches SQL except as a typed, bound parameter.
//
// # Concurrency
//
// A Service is safe for concurrent use by any number of requests. It keeps no
// mutable state besides its Prometheus collectors; each request runs its own
// queries on the shared pools (pgxpool for PostgreSQL, the clickhouse-go
// pool for ClickHouse). An export holds one ClickHouse connection for as long
// as it streams.
package query
