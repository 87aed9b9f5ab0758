// Package bench is the load generator behind `happychat-bench`. It opens real
// WebSockets to a running server, in one of two modes:
//
//   - load: N rooms × M members, every member on its own socket; members
//     send over their sockets at an open-loop rate, and it measures what
//     comes back: sends/s, deliveries/s, the send → deliver latency (from
//     the scheduled send time, so a stalled server cannot hide its delay by
//     slowing the generator), acks, error frames, lost and duplicated
//     deliveries, out-of-order seqs and unexpected closes; optionally a PNG
//     histogram of the latencies.
//   - idle: many silent sockets held open, and the server's memory before
//     and with them, per socket.
//
// In both it scrapes the servers' /metrics (the Go process collector), on
// their internal listeners (CHAT_INTERNAL_ADDR), for their CPU and
// resident memory over the run.
//
// It speaks only the public contract (API.md): POST /v1/sessions, /v1/rooms
// (with the admin token), /join, and GET /v1/ws, plus GET /metrics on the
// internal listeners.
//
// Concurrency: load mode has one reader and one writer goroutine per socket
// and one scheduler, the shared tallies guarded by one mutex in Run's
// recorder; idle mode one reader per socket that only reads. Setup and
// dialing use bounded worker pools; a scraper goroutine samples /metrics
// every second while a window is open.
package bench
