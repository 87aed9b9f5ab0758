// Package bench is the load generator behind `happychat bench`: it opens real
// WebSockets to a running server (N rooms × M members, every member on its
// own socket), has members send over their sockets at an open-loop rate, and
// measures what comes back: sends/s, deliveries/s, the send → deliver latency
// (from the scheduled send time, so a stalled server cannot hide its delay
// by slowing the generator), acks, error frames, lost and duplicated
// deliveries, out-of-order seqs and unexpected closes.
//
// It speaks only the public contract (API.md): POST /v1/sessions, /v1/rooms
// (with the admin token), /join, and GET /v1/ws.
//
// Concurrency: one reader and one writer goroutine per socket, one scheduler;
// the shared tallies are guarded by one mutex in Run's recorder.
package bench
