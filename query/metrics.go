package query

import (
	"errors"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's collectors. Names carry the happychat_query_
// prefix because the all-in-one mode registers every service on one registry.
type metrics struct {
	requests  *prometheus.HistogramVec
	exported  prometheus.Counter
	exporting prometheus.Gauge
	aborted   prometheus.Counter
	busy      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "happychat_query_request_duration_seconds",
			Help:    "Duration of query-service HTTP requests by route and status code (exports: until the last row).",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 15, 60, 300},
		}, []string{"route", "code"}),
		exported: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_query_exported_messages_total",
			Help: "Messages written by history exports.",
		}),
		exporting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "happychat_query_exports_in_flight",
			Help: "History exports currently streaming.",
		}),
		aborted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "happychat_query_exports_aborted_total",
			Help: "Exports that ended before the last row (client gone, timeout or store error).",
		}),
		busy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "happychat_query_busy_refusals_total",
			Help: "Requests answered 503 because every slot of their kind (analytics, export) was taken.",
		}, []string{"kind"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.exported, m.exporting, m.aborted, m.busy} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}

// route wraps a handler with the read limits (ratelimit.go) and the request
// metric under a fixed route label (never the raw path: ids would explode
// the label's cardinality).
func (s *Service) route(name string, h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		if s.admit(c, name) {
			h(c)
		}
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
	}
}
