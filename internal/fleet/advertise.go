package fleet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults of Config.
const (
	DefaultInterval = 10 * time.Second
	DefaultTTL      = 30 * time.Second
)

// ErrBehind is returned by Run when the cluster's feature level is above
// the build's: the instance refuses to start, or stops, since it could meet
// events it cannot read.
var ErrBehind = errors.New("the cluster's feature level is above this build's")

// Config says what an instance advertises and where.
type Config struct {
	// Kafka are the client options (seed brokers, logger, …).
	Kafka []kgo.Opt
	// Topic is schemas.Names.Features.
	Topic string
	// Role and Instance name the instance; together unique among live
	// instances (a second one with the same pair overwrites the first).
	// An empty Instance is the host name, the process id and a random
	// suffix: unique, but new at every start.
	Role     string
	Instance string
	// Level is the highest feature level the build understands
	// (schemas.FeatureLevel).
	Level int
	// Interval between heartbeats (DefaultInterval); TTL is how long each
	// counts (DefaultTTL): a crashed instance stops counting after at most
	// TTL.
	Interval time.Duration
	TTL      time.Duration
	Log      *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.TTL <= c.Interval {
		c.TTL = max(DefaultTTL, 3*c.Interval)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:4])
	}
}

// Validate reports every missing field at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Kafka) == 0 {
		errs = append(errs, errors.New("fleet: Kafka options are required"))
	}
	if c.Topic == "" || c.Role == "" {
		errs = append(errs, errors.New("fleet: Topic and Role are required"))
	}
	if c.Level < 1 {
		errs = append(errs, errors.New("fleet: Level must be at least 1"))
	}
	return errors.Join(errs...)
}

// Run advertises the instance, checks the cluster's level, and runs work
// while it renews the advertisement every Interval; it withdraws the
// advertisement when work returns. It returns ErrBehind (wrapped) without
// running work if the cluster's level is above the build's, and stops work
// with ErrBehind if a heartbeat finds it raised later (possible only if this
// instance's advertisement expired meanwhile, e.g. Kafka was unreachable for
// longer than TTL). Until the first heartbeat is written and the level read,
// Kafka being unreachable only delays work; nil is returned if ctx ends
// first.
func Run(ctx context.Context, cfg Config, work func(context.Context) error) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	cl, err := kgo.NewClient(cfg.Kafka...)
	if err != nil {
		return fmt.Errorf("fleet: kafka client: %w", err)
	}
	defer cl.Close()
	a := &advert{cfg: cfg, cl: cl}
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		err := a.beat(ctx)
		if err == nil {
			break
		}
		if errors.Is(err, ErrBehind) || ctx.Err() != nil {
			a.withdraw(ctx)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		cfg.Log.Warn("cannot advertise this instance's feature level yet, retrying (is the features topic created? `happychat topics`)",
			"topic", cfg.Topic, "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	defer a.withdraw(ctx)
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if err := a.beat(wctx); errors.Is(err, ErrBehind) {
				cfg.Log.Error("stopping: the cluster's feature level was raised above this build's", "err", err)
				cancel(err)
				return
			} else if err != nil && wctx.Err() == nil {
				cfg.Log.Warn("heartbeat failed; the advertisement expires unless the next one succeeds", "err", err)
			}
		}
	}()
	err = work(wctx)
	cancel(nil)
	<-beats
	if cause := context.Cause(wctx); errors.Is(cause, ErrBehind) {
		return cause
	}
	return err
}

// advert is one instance's advertisement.
type advert struct {
	cfg Config
	cl  *kgo.Client
}

// beat writes a heartbeat, then reads the cluster's level: in this order,
// so that SetLevel, which publishes first and reads second, cannot miss an
// instance that would miss its level (see SetLevel).
func (a *advert) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Interval)
	defer cancel()
	m := Member{Role: a.cfg.Role, Instance: a.cfg.Instance, Level: a.cfg.Level, Expires: time.Now().Add(a.cfg.TTL)}
	v, err := encodeMember(m)
	if err != nil {
		return err
	}
	if err := produce(ctx, a.cl, a.cfg.Topic, m.key(), v); err != nil {
		return err
	}
	st, err := Read(ctx, a.cfg.Kafka, a.cfg.Topic)
	if err != nil {
		return err
	}
	if st.Level > a.cfg.Level {
		return fmt.Errorf("%w: cluster %d, build %d (%s): run a newer build", ErrBehind, st.Level, a.cfg.Level, m)
	}
	return nil
}

// withdraw deletes the advertisement (a tombstone), so that `happychat
// features` stops listing the instance at once rather than after TTL.
func (a *advert) withdraw(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m := Member{Role: a.cfg.Role, Instance: a.cfg.Instance}
	if err := produce(ctx, a.cl, a.cfg.Topic, m.key(), nil); err != nil {
		a.cfg.Log.Warn("could not withdraw the advertisement; it expires by itself", "err", err, "ttl", a.cfg.TTL)
	}
}
