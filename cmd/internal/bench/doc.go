// Package bench is the load generator behind `happychat-bench`. It opens real
// WebSockets to a running server, in one of two modes:
//
//   - load: N rooms × M members, every member on its own socket; members
//     send over their sockets at an open-loop rate (slot k due at start +
//     k/rate, its sender a random room's random member from a seeded PCG,
//     or room by room with -shape roundrobin), and it measures what comes
//     back: sends/s, deliveries/s within the load window, the slot →
//     deliver latency (from the slot, so a stalled server cannot hide its
//     delay by slowing the generator) split at the write and at the frame's
//     sent_at, acks, error frames, lost and duplicated deliveries,
//     out-of-order seqs, unexpected closes and its own CPU; optionally a
//     PNG histogram of the latencies.
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
// and one scheduler. They share the ledger (one entry per slot, atomics: the
// scheduler publishes an entry before its send, readers mark receipts in
// per-send bitsets) and, under one mutex, only the rare tallies (errors,
// closes, error frames); each goroutine keeps its own latencies and counts,
// merged after the run. Idle mode has one reader per socket that only reads. Setup and
// dialing use bounded worker pools; a scraper goroutine samples /metrics
// every second while a window is open.
package bench
