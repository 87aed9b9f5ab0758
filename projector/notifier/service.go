package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"happychat/internal/msgkeys"
	"happychat/internal/ratelimit"
	"happychat/schemas"
)

// The use cases of the notifier, one file each:
//
//	Subscribe     http.go, store.go   POST /v1/push/subscriptions
//	Unsubscribe   http.go, store.go   DELETE /v1/push/subscriptions
//	VAPID key     http.go             GET /v1/push/vapid-key
//	Mute, Unmute  http.go, store.go   PUT|DELETE /v1/rooms/{id}/mute, GET /v1/push/mutes
//	Notify        consume.go          message.sent on the rooms topic → pushes

// Service is one notifier instance. Several may run: the rooms topic's
// partitions are spread among them by the consumer group.
type Service struct {
	cfg        Config
	log        *slog.Logger
	http       *http.Client
	subscriber string
	metrics    metrics
	addrLimit  *ratelimit.PerAddress
	userLimit  *ratelimit.Buckets[schemas.ID]
	// texts opens the texts a cluster at level 4 seals (ADR 0009), with
	// the keys in the notifier's PostgreSQL: a deleted message's is gone.
	texts *msgkeys.Reader
	// consuming is set once the group consumer runs (readiness).
	consuming atomic.Bool
}

type metrics struct {
	pushes  *prometheus.CounterVec
	retries prometheus.Counter
	skipped *prometheus.CounterVec
}

// New checks cfg and builds a notifier; Run starts it.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Log, http: newHTTPClient(cfg.AllowLoopback),
		texts: msgkeys.NewReader(cfg.PG, cfg.Names.Rooms),
		// webpush-go prefixes "mailto:" to anything that is not https:.
		subscriber: strings.TrimPrefix(cfg.VAPIDSubject, "mailto:"),
		addrLimit:  ratelimit.NewPerAddress(cfg.Addresses, cfg.PerAddress, "too many requests from this address, slow down", ratelimit.Options{}),
		userLimit:  ratelimit.NewBuckets[schemas.ID](cfg.PerUser, ratelimit.Options{}),
		metrics: metrics{
			pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "happychat_notifier_pushes_total", Help: "Pushes by outcome (delivered, gone, refused, failed).",
			}, []string{"outcome"}),
			retries: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "happychat_notifier_push_retries_total", Help: "Pushes tried again after a transient failure.",
			}),
			skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "happychat_notifier_skipped_total", Help: "Messages not pushed, by reason (too_old, deleted).",
			}, []string{"reason"}),
		},
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{s.metrics.pushes, s.metrics.retries, s.metrics.skipped} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("notifier metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Run creates the notifier's tables, then consumes the rooms topic and
// pushes until ctx ends. Kafka and PostgreSQL being down only delays it.
func (s *Service) Run(ctx context.Context) error {
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		err := s.migrate(ctx)
		if err == nil {
			break
		}
		s.log.Error("notifier: migrations failed, retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	err := s.consume(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Ready fails until the notifier consumes the rooms topic.
func (s *Service) Ready(context.Context) error {
	if !s.consuming.Load() {
		return errors.New("notifier not consuming yet")
	}
	return nil
}
