package schemas

import (
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultPrefix prefixes every topic and consumer group name. Tests use their
// own prefix so that runs never see each other's events.
const DefaultPrefix = "happychat"

// Record headers. The event type and version travel in headers so that a
// consumer can skip records it does not care about without decoding them.
const (
	HeaderType    = "event-type"
	HeaderVersion = "event-version"
)

// Names holds every topic and consumer-group name of one deployment.
//
// Renaming a consumer group makes its members start from scratch: for the
// command owners that only costs a rebuild, but never rename a group casually.
type Names struct {
	// Rooms carries every room-scoped event, key = room id (decimal), so one
	// room lives on one partition and keeps its order.
	Rooms string
	// Users carries user-scoped events (registration, read marks), key = user id.
	Users string
	// CommandGroup is the consumer group whose assignment of the rooms topic
	// decides which command instance owns which room partition.
	CommandGroup string
	// ProjectorPostgresGroup and ProjectorClickHouseGroup spread partitions
	// among projector instances; offsets live in the stores, not in Kafka.
	ProjectorPostgresGroup   string
	ProjectorClickHouseGroup string
	// Features is a small compacted topic (one partition) of the fleet:
	// every projector and realtime instance advertises there, keyed by role
	// and instance, the feature level its build understands, and the
	// cluster's feature level is published there for the roles without
	// PostgreSQL (internal/fleet, docs/adr/0004). No event goes there.
	Features string
	// Typing carries the realtime service's typing indicators between its
	// instances (docs/realtime.md, "Typing"): ephemeral, kept a minute,
	// written without transactions, and never an event. Every realtime
	// instance tails it from its end.
	Typing string
	// NotifierGroup is the Web Push notifier's consumer group of the rooms
	// topic; its offsets are committed in Kafka (docs/notifier.md).
	NotifierGroup string
}

// NamesFor returns the names under prefix ("" means DefaultPrefix).
func NamesFor(prefix string) Names {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Names{
		Rooms:                    prefix + ".rooms.v1",
		Users:                    prefix + ".users.v1",
		CommandGroup:             prefix + ".command-owners",
		ProjectorPostgresGroup:   prefix + ".projector-postgres",
		ProjectorClickHouseGroup: prefix + ".projector-clickhouse",
		Features:                 prefix + ".features",
		Typing:                   prefix + ".typing",
		NotifierGroup:            prefix + ".notifier",
	}
}

// Key returns the Kafka record key of an id (room id on the rooms topic, user
// id on the users topic): its decimal string.
func Key(id ID) []byte { return []byte(id.String()) }

// keyPartitioner is Kafka's default: murmur2 of the key, sign bit masked, mod
// the partition count. Every producer (Java or Go) agrees on it.
var keyPartitioner = kgo.StickyKeyPartitioner(nil).ForTopic("")

// Partition returns the partition of id among n partitions under Kafka's
// default partitioner, i.e. where the producer puts the id's records.
func Partition(id ID, n int) int32 {
	return int32(keyPartitioner.Partition(&kgo.Record{Key: Key(id)}, n))
}
