// Package kafkaretry holds how every Kafka client of the system retries
// through a broker failover: franz-go's defaults are tuned for a cluster
// where waiting is cheap, and here every second a client waits after the
// cluster has recovered is a second a room cannot be written or read.
package kafkaretry

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FailoverCap is the longest a client waits between two tries of a request
// or a produce or fetch after a failure. franz-go's default doubles from
// 250 ms up to 5 s: after a SIGKILLed leader (about 4.5 s until the
// controller elects another here), a producer tried at 0.25, 0.75, 1.75,
// 3.75 and then 7.75 s, so a partition answered no write for 6.7–6.9 s
// (leader-kill, small) and an owner's append ran into its write timeout.
// Tries to a dead broker cost one refused dial each.
const FailoverCap = 500 * time.Millisecond

// Backoff returns a franz-go RetryBackoffFn that starts at 100 ms and
// doubles up to max.
func Backoff(max time.Duration) func(int) time.Duration {
	return func(fails int) time.Duration {
		d := 100 * time.Millisecond
		for i := 1; i < fails && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// Opts are the failover options every client takes before its own (a
// later kgo.RetryBackoffFn replaces this one).
func Opts() []kgo.Opt {
	return []kgo.Opt{
		// A request to a partition whose leader died refreshes metadata
		// until the new leader shows; franz-go's default minimum age of
		// 5 s between refreshes added up to 5 s to every failover
		// (measured: 8.5 s -> 3.9 s without an acknowledged send after a
		// leader kill).
		kgo.MetadataMinAge(250 * time.Millisecond),
		kgo.RetryBackoffFn(Backoff(FailoverCap)),
	}
}
