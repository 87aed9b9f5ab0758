// Package notifier is the Web Push service: it keeps the browsers' push
// subscriptions and per-room mutes of each user, consumes the rooms topic
// as a consumer group of its own, and sends a push (RFC 8030 delivery,
// RFC 8291 encryption, RFC 8292 VAPID, through webpush-go) to the members
// of a room a message was sent to: not its sender, not those who muted the
// room unless it mentions them.
//
// Concurrency and guarantees (docs/notifier.md):
//   - Sends to one user and room within Config.Window make one push that
//     carries their count (coalesce.go).
//   - Before a push goes out, the (user, room) watermark in PostgreSQL moves
//     to the message's seq; a message at or below it is never pushed again,
//     and one older than Config.MaxAge is not pushed at all. A crash
//     therefore loses at most the pushes in flight, never repeats a burst.
//   - Offsets are committed (marks) only for records whose pushes are done.
//
// The subscriptions, mutes and watermarks are the notifier's own tables,
// not events: a subscription holds a device's secret, is deleted for real
// when the push service says it is gone, and is read by no other service.
// The notifier reads the projector's room and member views.
package notifier
