package realtime

import (
	"github.com/prometheus/client_golang/prometheus"

	"happychat/internal/msgkeys"
)

// metrics of one Service. Names start with happychat_realtime_.
type metrics struct {
	open          prometheus.Gauge
	accepted      prometheus.Counter
	refused       *prometheus.CounterVec
	closes        *prometheus.CounterVec
	deliveries    prometheus.Counter
	drops         prometheus.Counter
	delay         prometheus.Histogram
	resumes       *prometheus.CounterVec
	backlog       prometheus.Histogram
	catchUps      prometheus.Gauge
	locatorMisses prometheus.Counter
	yields        prometheus.Counter
	resumeSubs    prometheus.Gauge
	readersOpen   prometheus.Gauge
	readersOpened prometheus.Counter
	readerSeeks   prometheus.Counter
	readerRecords prometheus.Counter
	gaps          prometheus.Counter
	tailRecords   prometheus.Counter
	tailStages    *prometheus.HistogramVec
	// localDelivered and localSkipped count the committed events handed to
	// local delivery (the owners of this process, or the answers to this
	// instance's sends) taken ahead of the tail, and those left to it, by
	// why (local.go: localSkip).
	localDelivered prometheus.Counter
	localSkipped   *prometheus.CounterVec
	// localStages times the events local delivery takes from their event
	// time (local.go), as tailStages does the tail's.
	localStages  *prometheus.HistogramVec
	decodeErrors prometheus.Counter
	blockedRooms prometheus.Gauge
	clientFrames *prometheus.CounterVec
	typing       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "happychat", "realtime"
	m := &metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_open", Help: "Open subscriptions (WebSockets and SSE streams)."}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_accepted_total", Help: "Subscriptions opened (WebSockets upgraded, SSE streams started)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_refused_total", Help: "Handshakes refused before the upgrade, by error code."}, []string{"code"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "connections_closed_total", Help: "Closed connections by the close code the server sent (0: none, the peer went first)."}, []string{"code"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "deliveries_total", Help: "Room event frames written to sockets (live and resumed)."}),
		drops: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "send_queue_drops_total", Help: "Sockets cut off because their send queue overflowed (close 4008)."}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "delivery_delay_seconds", Help: "End-to-end delay of live events: event time to written on the socket.",
			// Fine below 100 ms: the load generators' latencies are checked
			// against this histogram (docs/benchmarks.md, "Which generator is
			// right"), which needs more than a bucket per doubling there.
			Buckets: []float64{.0005, .001, .0015, .002, .003, .004, .005, .0075, .01, .015, .02, .03, .04, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10}}),
		tailStages: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name:    "tail_stage_seconds",
			Help:    "Where a live event's time goes in the tail: fetched (event time to the tail's poll returning it), keys (the poll's sealed texts opened), dispatched (handed to every socket's queue).",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .003, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"stage"}),
		localStages: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name:    "local_stage_seconds",
			Help:    "Where a locally delivered event's time goes: handed (event time to its commit handed over by the owner or the send's answer), dispatched (handed to every socket's queue).",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .003, .005, .0075, .01, .015, .025, .05, .1, .25, .5, 1, 2.5, 5}}, []string{"stage"}),
		localDelivered: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "local_events_total", Help: "Committed events handed over by this process's command owners or with the answers to its sends, dispatched (or held for the seqs before them) before the tail read them."}),
		localSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "local_events_skipped_total", Help: "Committed events handed over locally and left to the tail, by reason: delivered (the tail came first), no_head (nothing of the room dispatched yet), ahead_full, held, blocked, queue_full, keys."}, []string{"reason"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "resumes_total", Help: "How sockets reached live delivery: live (nothing missed), ring (recent events in memory), log (read from Kafka)."}, []string{"path"}),
		backlog: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "resume_backlog_events", Help: "Events a connecting socket was behind the room's snapshot seq (since_seq resumes).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 12)}),
		catchUps: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "catchups_running", Help: "Sockets catching up before going live."}),
		locatorMisses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "locator_misses_total", Help: "Resumes whose located offset was past the next event (reread from the partition start)."}),
		yields: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "catchup_yields_total", Help: "Times a resume left its partition reader because its socket's queue stayed full (a slow client)."}),
		resumeSubs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "resume_reader_resumes", Help: "Resumes joined to a partition reader (reading the log)."}),
		readersOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "resume_readers_open", Help: "Partition readers of resumes with a Kafka client open (at most one per partition)."}),
		readersOpened: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "resume_readers_opened_total", Help: "Kafka clients opened by partition readers of resumes."}),
		readerSeeks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "resume_reader_seeks_total", Help: "Times a partition reader went back to a lower offset a resume wanted."}),
		readerRecords: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "resume_reader_records_total", Help: "Records fetched by partition readers of resumes (every room's)."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "seq_gaps_total", Help: "Jumps in a room's seq seen on the log or on a socket; nonzero means a bug or a damaged log."}),
		tailRecords: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "tail_records_total", Help: "Records read by the live tail."}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "decode_errors_total", Help: "Records skipped because they do not decode."}),
		blockedRooms: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "blocked_rooms", Help: "Rooms not served because their log holds an event this build does not know (a newer build's); must be 0."}),
		clientFrames: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "client_frames_total", Help: "Frames received from clients by outcome."}, []string{"result"}),
		typing: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "typing_published_total", Help: "Typing indicators published on the typing topic (after the per-user limit)."}),
	}
	for _, why := range localSkips {
		m.localSkipped.WithLabelValues(string(why))
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.open, m.accepted, m.refused, m.closes, m.deliveries, m.drops,
			m.delay, m.resumes, m.backlog, m.catchUps, m.locatorMisses, m.yields,
			m.resumeSubs, m.readersOpen, m.readersOpened, m.readerSeeks, m.readerRecords, m.gaps, m.tailRecords, m.tailStages, m.localStages, m.localDelivered, m.localSkipped, m.decodeErrors, m.blockedRooms, m.clientFrames, m.typing} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// registerKeyQueries exports the key store reads of the process's message
// key reader: a sealed text whose key no answer seeded (split mode: the
// tail came before the send's answer) costs a PostgreSQL query on the
// tail's path (its "keys" stage), unless the answer overtakes the query.
func registerKeyQueries(reg prometheus.Registerer, keys *msgkeys.Reader) error {
	if reg == nil || keys == nil {
		return nil
	}
	const ns, sub = "happychat", "realtime"
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "message_key_queries_total", Help: "Queries of the message key store (texts no cached key opened)."},
			func() float64 { return float64(keys.Stats().Queries) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "message_keys_queried_total", Help: "Message keys asked of the key store."},
			func() float64 { return float64(keys.Stats().Keys) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "message_key_queries_overtaken_total", Help: "Key store reads whose keys a send's answer brought first: the texts opened without waiting for the store."},
			func() float64 { return float64(keys.Stats().Overtaken) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
