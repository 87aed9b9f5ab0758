// Package command is the write side of happychat: it validates every write
// of the API against the room's state and appends the resulting events to
// Kafka, answering only once they are committed.
//
// # One writer per room
//
// Rooms hash to partitions of the rooms topic (Kafka's murmur2 on the room
// id). The instances of the command service form a consumer group on that
// topic; the group's assignment makes exactly one instance the owner of each
// partition. The owner validates and appends every command for the rooms of
// its partitions through a transactional producer whose transactional id is
// derived from the partition, so a new owner's InitProducerID fences any stale
// owner: a stale owner's commit fails and is answered 503, never 2xx.
//
// # State
//
// Every instance tails all partitions of the rooms topic (read_committed) and
// folds them into room state (members, seq, dedupe of client_msg_id) and the
// user → room map of decision 2. An owner begins serving a partition only
// after fencing the previous owner and seeing its tail reach the partition's
// last stable offset, so its state holds every committed event.
//
// # Concurrency
//
// Each owned partition has one goroutine that takes commands in batches,
// decides them against copies of the touched rooms, appends the events in
// one transaction, and installs the copies only after the commit. The tail
// applies events by seq, so an event applied by both (the owner after its
// commit, the tail when it reads it back) is applied once.
//
// Requests for a partition this instance does not own are forwarded to the
// owner over HTTP (see forward.go), found through the group's description.
package command
