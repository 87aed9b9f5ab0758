package command

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commands      *prometheus.CounterVec
	commitSeconds prometheus.Histogram
	stageSeconds  *prometheus.HistogramVec
	batchEvents   prometheus.Histogram
	// instanceTxnBatches and sessionRestarts: docs/adr/0011.
	instanceTxnBatches prometheus.Histogram
	sessionRestarts    prometheus.Counter
	fencedWriters      prometheus.Counter
	owned              prometheus.Gauge
	poison             prometheus.Counter
	blocked            prometheus.Gauge
	ownerRestarts      prometheus.Counter
	idsAhead           *prometheus.GaugeVec
	ownerReplayed      prometheus.Counter
	snapshots          prometheus.Counter
	snapshotFailures   prometheus.Counter
	snapshotSeconds    prometheus.Histogram
	dedupeLookups      prometheus.Counter
	partitionMoves     *prometheus.CounterVec
	// startupReplayed and startupSeconds are set once, when the instance
	// has caught up with the log and joins the owners' group: what its
	// snapshots left it to replay, and how long the start took.
	startupReplayed prometheus.Gauge
	startupSeconds  prometheus.Gauge
	// featureLevel is the cluster feature level the instance last read:
	// what it emits at (a raise reaches it at its next lease renewal).
	featureLevel prometheus.Gauge
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
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "happychat_command_owner_stage_seconds",
			Help: "Where a command's time goes at its partition's owner: queued (submitted until its batch began), seal (the batch's message keys stored), append (records produced and flushed), commit (the transaction's end).",
			// Fine below 25 ms, where issue 16's latency goals are.
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"stage"}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "happychat_command_batch_events", Help: "Events appended per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		instanceTxnBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "happychat_command_instance_txn_batches", Help: "Owners' batches per instance transaction (feature level 6, docs/adr/0011).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8),
		}),
		sessionRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_group_session_restarts_total", Help: "Owners' group sessions started over after an instance transaction's end failed.",
		}),
		fencedWriters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_fenced_instance_writers_total", Help: "Open instance transactions a takeover ended (InitProducerID on another instance's id: docs/adr/0011).",
		}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_command_owned_partitions", Help: "Room partitions this instance owns and serves.",
		}),
		poison: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_undecodable_records_total", Help: "Records on the rooms topic the tail could not decode or fold.",
		}),
		blocked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_command_blocked_partitions", Help: "Partitions whose fold stopped at a record this build cannot read (not served).",
		}),
		ownerRestarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_owner_restarts_total", Help: "Partition owners that failed and took their partition over again.",
		}),
		idsAhead: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "happychat_command_ids_ahead_seconds",
			Help: "How far the time of a partition owner's last id runs ahead of its clock (a clock behind the previous owner's, or more than 4096 ids in a millisecond).",
		}, []string{"partition"}),
		ownerReplayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_owner_replayed_records_total", Help: "Records owners replayed into their dedupe window at takeovers.",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_snapshots_total", Help: "Partition snapshots written.",
		}),
		snapshotFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_snapshot_failures_total", Help: "Snapshots not written, or not usable when read.",
		}),
		snapshotSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "happychat_command_snapshot_seconds", Help: "Time to encode and store one partition snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		dedupeLookups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_command_dedupe_store_lookups_total", Help: "Sends looked up in the durable store (Bloom filter hits).",
		}),
		partitionMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_command_partition_moves_total", Help: "Partitions the owners' group assigned to, revoked from or lost by this instance.",
		}, []string{"event"}),
		startupReplayed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_command_startup_replayed_records", Help: "Records the tail folded from the snapshots' offsets until the instance caught up with the log at its start (0 until then).",
		}),
		startupSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_command_startup_seconds", Help: "Seconds from the service's start until it caught up with the log and joined the owners' group (0 until then).",
		}),
		featureLevel: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_command_feature_level", Help: "The cluster feature level this instance last read and emits at (docs/adr/0004).",
		}),
	}
	reg.MustRegister(m.startupReplayed, m.startupSeconds, m.featureLevel, m.partitionMoves, m.commands, m.commitSeconds, m.stageSeconds, m.batchEvents, m.instanceTxnBatches, m.sessionRestarts, m.fencedWriters, m.owned, m.poison, m.blocked, m.ownerRestarts, m.idsAhead,
		m.ownerReplayed, m.snapshots, m.snapshotFailures, m.snapshotSeconds, m.dedupeLookups)
	return m
}
