// Package feed is the projectors' Kafka loop: it polls the event topics,
// decodes every record into a schemas.Envelope (or marks it as poison), and
// hands batches to a Sink that knows nothing about Kafka. Positions are the
// sink's business: on every assignment the loop asks the sink where each
// partition resumes (the offsets stored next to the views), and it never
// commits to Kafka. A consumer group, when configured, only spreads
// partitions among instances.
//
// Concurrency: Run drives one Sink from one goroutine, batch after batch,
// records in log order within each partition. With a group, Drop runs on the
// client's goroutine but never while a batch is applied or flushed
// (kgo.BlockRebalanceOnPoll gates it); Resume, called when offsets are
// fetched for a new assignment, may overlap a batch of other partitions, so
// sinks guard what it shares with Apply. Large polls are decoded on every
// CPU. A sink that fails is offered the same records again after a backoff;
// the loop never gives up, so a projector never crash-loops on an outage.
//
// The files, one concern each: sink.go (what a sink promises and what the
// loop reports), config.go, feed.go (Run, its sessions and where they
// resume), loop.go (poll, apply, flush, retry), block.go (a partition
// stopped at an event of a newer build: never skipped), decode.go,
// backoff.go, and admin.go (topic and offset look-ups for the identity check
// and replays).
package feed
