package command

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commands      *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	batchEvents   prometheus.Histogram
	owned         prometheus.Gauge
	poison        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_command_commands_total", Help: "Room commands by kind and route (local or forwarded).",
		}, []string{"kind", "route"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "happychat_command_commit_seconds", Help: "Time to append and commit one batch transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "happychat_command_batch_events", Help: "Events appended per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_command_owned_partitions", Help: "Room partitions this instance owns and serves.",
		}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_undecodable_records_total", Help: "Records on the rooms topic the tail could not decode.",
		}),
	}
	reg.MustRegister(m.commands, m.commitSeconds, m.batchEvents, m.owned, m.poison)
	return m
}
