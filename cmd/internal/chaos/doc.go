// Package chaos is the fault-injection suite behind `happychat-chaos`
// (docs/reliability.md). It owns nothing of the system: it starts the
// happychat binary's subcommands as processes (two command instances, the
// projector, the query service, two realtime instances) under a fresh topic
// prefix and fresh PostgreSQL and ClickHouse databases, drives load through
// the public contract (HTTP writes with retries under the same
// client_msg_id, a WebSocket per member resumed with since_seq), injects
// faults (signals to those processes; stop and start of Kafka, PostgreSQL
// and ClickHouse through deploy/local; kills, stops and restarts of the
// brokers of the 3-broker cluster through internal/kafkacluster, for the
// cluster scenarios, which run on a system of their own on that cluster;
// SIGSTOP and a full disk for a PostgreSQL and a ClickHouse the suite
// starts itself, for the store scenarios, on a system of their own),
// and checks the committed log against what clients were told, the
// invariants, what every socket received, and both views.
//
// The checks (check.go, views.go's CompareViews, unavailability.go) are
// pure functions of recorded data and are unit-tested; everything else
// needs the real servers and stops them, so it runs only through
// happychat-chaos, never under `go test`.
//
// # Concurrency
//
// Scenarios run one after another on one system (the store scenarios and
// the cluster scenarios after the others, each on a system of their own). Within a scenario the
// load runs on its own goroutines (each send's attempts are recorded in the
// ledger under its mutex), every subscriber has one reader goroutine
// (its record guarded by its mutex), and faults are injected from the
// scenario's goroutine. The checks run after the load has stopped; a
// subscriber is stopped before its record is read.
package chaos
