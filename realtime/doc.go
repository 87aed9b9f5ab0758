// Package realtime is the WebSocket side of happychat: GET /v1/ws, its
// Server-Sent Events fallback GET /v1/rooms/{id}/events (the same conn over
// another transport: transport.go, sse.go), the live tail of the rooms
// topic, resume by seq, and typing indicators between instances
// (typing.go). It owns the room → sockets index of one instance and
// nothing durable: every instance tails the whole log on its own, so
// instances run side by side without coordination and a client may
// reconnect to any of them.
//
// # What it needs from outside
//
// Commands (the command service: sends and presence snapshots, in-process
// or over HTTP), an OffsetLocator (where a resume starts reading the log;
// ClickHouseLocator reads the room_events index, FromStart knows nothing),
// token.Keys to verify bearers, and Moderation (*moderation.Rules) to render
// bodies as the history paths do. It never imports another role package.
//
// # Delivery guarantees
//
// On every socket a room's events arrive once each, in seq order, with no
// gap: the presence snapshot (members at seq S) first, then every event
// after since_seq (or after S without it), resumed from memory or the log
// and then live. docs/realtime.md gives the argument; hub.step holds it.
//
// # Concurrency contract
//
//   - Run is the only dispatcher: one goroutine reads every partition and
//     calls hub.dispatch per record, in log order.
//   - hub.mu guards the room index (heads, rings, live sets). Dispatch
//     offers each frame to a socket's queue without blocking; a full queue
//     cuts that socket (close 4008), never the room.
//   - Each socket or stream has one reader (the HTTP handler's goroutine;
//     a stream's only waits for its client to go away), one writer
//     (the only goroutine writing data frames; WriteControl and Close are
//     safe from others), one sender (calls Commands.Send in order) and, while
//     resuming, one catch-up goroutine. conn.fail is the single way to end
//     a socket and may be called from any of them, or from the hub under
//     its lock.
//   - The catch-ups that read the log share one reader goroutine per
//     partition, with one Kafka consumer (readers.go; readers open at once
//     are bounded by Config.MaxCatchUps). Its mu guards its resumes; the
//     reader never waits for a catch-up, a catch-up waits for its reader
//     (resumeSub.take) and its socket's queue. Lock order: readers.mu, then
//     a partReader's mu; neither is held across a Kafka call.
//   - Frames are immutable once built and shared between sockets.
package realtime
