package projector

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"happychat/projector/internal/feed"
)

// metrics are shared by every projector of a process; the "projector" label
// tells them apart.
type metrics struct {
	events    *prometheus.CounterVec   // projector, type
	batch     *prometheus.HistogramVec // projector
	applySecs *prometheus.HistogramVec // projector
	delay     *prometheus.HistogramVec // projector
	lag       *prometheus.GaugeVec     // projector, topic, partition
	errors    *prometheus.CounterVec   // projector, kind
	dead      *prometheus.CounterVec   // projector
	anomalies *prometheus.CounterVec   // projector, kind
	blocked   *prometheus.GaugeVec     // projector
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_projector_events_total",
			Help: "Events applied to a view (duplicates skipped by seq included), by event type; rate() gives events/s.",
		}, []string{"projector", "type"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "happychat_projector_batch_size",
			Help:    "Records per PostgreSQL transaction or ClickHouse insert.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}, []string{"projector"}),
		applySecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "happychat_projector_batch_seconds",
			Help:    "Time to make one batch durable (transaction or insert).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"projector"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "happychat_projector_delay_seconds",
			Help:    "Projection lag of each event: from occurred_at until its view change is committed.",
			Buckets: []float64{.005, .01, .025, .05, .075, .1, .15, .2, .25, .3, .4, .5, .75, 1, 2.5, 5, 10, 30, 60},
		}, []string{"projector"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "happychat_projector_lag_records",
			Help: "Records between the projector's position and the partition's high watermark.",
		}, []string{"projector", "topic", "partition"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_projector_errors_total",
			Help: "Failures by kind (fetch, apply, flush, resume, session); every one is retried.",
		}, []string{"projector", "kind"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_projector_dead_letters_total",
			Help: "Records recorded as dead letters and skipped (undecodable or impossible to apply).",
		}, []string{"projector"}),
		anomalies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_projector_anomalies_total",
			Help: "Events applied despite breaking a log invariant (seq gap, second creation of a room).",
		}, []string{"projector", "kind"}),
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "happychat_projector_blocked_partitions",
			Help: "Partitions stopped at an event this build does not know (a newer build's); they wait for a build that reads it. Must be 0.",
		}, []string{"projector"}),
	}
	if reg != nil {
		m.events = register(reg, m.events)
		m.batch = register(reg, m.batch)
		m.applySecs = register(reg, m.applySecs)
		m.delay = register(reg, m.delay)
		m.lag = register(reg, m.lag)
		m.errors = register(reg, m.errors)
		m.dead = register(reg, m.dead)
		m.anomalies = register(reg, m.anomalies)
		m.blocked = register(reg, m.blocked)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name: both projectors of a process share one set of metrics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: two different metrics share a name
	}
	return c
}

// observer feeds the loop's observations into the metrics of one projector.
type observer struct {
	m    *metrics
	name string
}

func (o observer) Applied(recs []feed.Record, hwm map[feed.TP]int64) {
	next := map[feed.TP]int64{}
	for i := range recs {
		r := &recs[i]
		typ := r.Env.Type
		if r.Err != nil {
			typ = "poison"
		}
		o.m.events.WithLabelValues(o.name, typ).Inc()
		next[feed.TP{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	}
	for tp, end := range hwm {
		pos, ok := next[tp]
		if !ok {
			continue
		}
		o.m.lag.WithLabelValues(o.name, tp.Topic, strconv.Itoa(int(tp.Partition))).Set(float64(max(0, end-pos)))
	}
}

func (o observer) Error(kind string) { o.m.errors.WithLabelValues(o.name, kind).Inc() }

// committed records the metrics of a batch of n records once it is
// durable; occurred are the events' times.
func (m *metrics) committed(name string, n int, occurred []time.Time, took time.Duration) {
	m.batch.WithLabelValues(name).Observe(float64(n))
	m.applySecs.WithLabelValues(name).Observe(took.Seconds())
	now := time.Now()
	h := m.delay.WithLabelValues(name)
	for _, t := range occurred {
		h.Observe(now.Sub(t).Seconds())
	}
}

// newLogLimiter lets a few lines a second through: a log full of poison
// records (or a replay re-reading them) must not flood the logs; the
// metrics and the dead-letter tables count every one.
func newLogLimiter() *rate.Limiter { return rate.NewLimiter(5, 20) }
