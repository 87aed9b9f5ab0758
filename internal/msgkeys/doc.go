// Package msgkeys seals message texts under per-message data keys and opens
// them again: crypto-shredding (docs/adr/0009). The command service seals a
// message's text, an edit's text and a reply's captured preview, each under
// a fresh AES-256-GCM key stored in PostgreSQL (message_keys, the command's
// table) before the event is appended; a delete destroys the message's
// keys, after which every copy of those texts in the log (Kafka's replicas,
// backups, a replay) is unreadable.
//
// Every reader of the rooms topic opens envelopes through a Reader before
// rendering them: it fills Text from Sealed, or sets Erased when the key is
// gone. The Reader caches keys for a short time (KeyTTL) and forgets a
// message's keys as soon as it reads the message's message.deleted, so a
// reader that sees the delete never opens the text again (it caches no key
// of the message from then on, whether a query read it before the delete or
// a late answer seeds it), and one that does not (another process) stops
// within KeyTTL. A key the cache merely dropped (it is bounded) is read
// again, never taken for a destroyed one.
//
// Role packages import this package; it imports only schemas and pgx.
package msgkeys
