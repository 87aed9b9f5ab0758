package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/httperr"
	"happychat/internal/kafkaretry"
	"happychat/schemas"
)

// Service is one realtime instance: the Kafka tail (Run) and the /v1/ws
// handler (Handler). Several instances run side by side, each serving its
// own sockets; they share nothing but the log.
type Service struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	hub      *hub
	users    *users
	upgrader websocket.Upgrader

	// parts is the rooms topic's partition count, set before ready closes.
	parts        int
	ready        chan struct{}
	started      atomic.Bool
	local        chan committed // committed here, for local delivery (local.go)
	catchUpSlots chan struct{}
	readers      *readers

	blocked blockedRooms
	typing  typingClient

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
	connWG  sync.WaitGroup
}

// New checks cfg and returns a Service; Run starts its tail.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("realtime metrics: %w", err)
	}
	if err := registerKeyQueries(cfg.Metrics, cfg.MessageKeys); err != nil {
		return nil, fmt.Errorf("realtime metrics: %w", err)
	}
	s := &Service{
		cfg: cfg, log: cfg.Log, m: m,
		hub:          newHub(cfg.RecentEvents, cfg.RoomGrace, cfg.Rules, m, cfg.Log),
		ready:        make(chan struct{}),
		local:        make(chan committed, localQueue),
		catchUpSlots: make(chan struct{}, cfg.MaxCatchUps),
		conns:        map[*conn]struct{}{},
	}
	s.users = newUsers(&s.cfg)
	s.readers = newReaders(s)
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		// Every socket keeps its read buffer for life, so it is small:
		// client frames are a few hundred bytes, and a larger one is read
		// through it in pieces. Nothing writes through gorilla's write
		// buffer (frames go out as prepared bytes, see wire.go), so that
		// one is pooled and never held by an idle socket.
		ReadBufferSize:  512,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// The origin was checked before the upgrade, with the contract's
		// error envelope on refusal.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			httperr.Write(w, &schemas.Error{Code: codeForStatus(status), Message: reason.Error()})
		},
	}
	return s, nil
}

// Handler serves the routes Register mounts, without gin (tests).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/ws", s.serveWS)
	mux.HandleFunc("/v1/rooms/{id}/events", func(w http.ResponseWriter, r *http.Request) {
		s.serveEvents(w, r, r.PathValue("id"))
	})
	mux.HandleFunc("POST /v1/rooms/{id}/typing", func(w http.ResponseWriter, r *http.Request) {
		s.serveTyping(w, r, r.PathValue("id"))
	})
	return mux
}

// Register mounts GET /v1/ws, GET /v1/rooms/{id}/events (the SSE
// fallback) and POST /v1/rooms/{id}/typing on r.
func (s *Service) Register(r gin.IRouter) {
	r.GET("/v1/ws", gin.WrapH(http.HandlerFunc(s.serveWS)))
	r.GET("/v1/rooms/:id/events", func(c *gin.Context) { s.serveEvents(c.Writer, c.Request, c.Param("id")) })
	r.POST("/v1/rooms/:id/typing", func(c *gin.Context) { s.serveTyping(c.Writer, c.Request, c.Param("id")) })
}

// Ready reports whether the tail has started (for /readyz); until then the
// handler answers 503.
func (s *Service) Ready(context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
		return errors.New("realtime: kafka tail not started")
	}
}

func (s *Service) kafkaOpts() []kgo.Opt {
	return slices.Concat([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...)}, kafkaretry.Opts(), s.cfg.KafkaOpts)
}

// Run advertises the instance's feature level (refusing to start below the
// cluster's, see docs/command.md "Rolling upgrades"), then tails the rooms
// topic until ctx ends, closes every socket with 1001 and returns nil. It
// waits (retrying) for the topics to exist.
//
// The tail reads every partition with its own consumer (no group, nothing
// committed: it is a tail, not a queue), read_committed so that aborted
// appends of a fenced command owner never reach a socket, from the last
// stable offsets at start: an event committed later is at or after them.
func (s *Service) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("realtime: Run called twice")
	}
	defer s.shutdown()
	return s.advertised(ctx, s.tail)
}

// tail is Run once the instance is advertised.
func (s *Service) tail(ctx context.Context) error {
	admin, err := kgo.NewClient(s.kafkaOpts()...)
	if err != nil {
		return fmt.Errorf("realtime kafka client: %w", err)
	}
	var start map[int32]kgo.Offset
	for {
		start, err = s.tailStart(ctx, admin)
		if err == nil {
			break
		}
		s.log.Warn("realtime: waiting for the rooms topic", "topic", s.cfg.Names.Rooms, "err", err)
		select {
		case <-ctx.Done():
			admin.Close()
			return nil
		case <-time.After(time.Second):
		}
	}
	admin.Close()
	tail, err := kgo.NewClient(append(s.kafkaOpts(),
		// Named, so that the broker's request log and quotas tell the
		// consumers apart (the default is "kgo" for all of them).
		kgo.ClientID("happychat-realtime-tail"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Names.Rooms: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)...)
	if err != nil {
		return fmt.Errorf("realtime tail client: %w", err)
	}
	defer tail.Close()
	s.parts = len(start)
	close(s.ready)
	s.log.Info("realtime tail started", "topic", s.cfg.Names.Rooms, "partitions", s.parts)

	go s.janitor(ctx)
	go s.deliverLocal(ctx)
	if s.cfg.Names.Typing != "" {
		go s.tailTyping(ctx)
	}
	var lastErrLog time.Time
	for {
		fetches := tail.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if time.Since(lastErrLog) > 10*time.Second {
				lastErrLog = time.Now()
				s.log.Warn("realtime tail fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		var envs []schemas.Envelope
		fetches.EachRecord(func(rec *kgo.Record) {
			s.m.tailRecords.Inc()
			// Most records belong to rooms without sockets here: skip them
			// by key, before paying for the decode.
			if room, err := schemas.ParseID(string(rec.Key)); err == nil && !s.hub.tracked(room) {
				return
			}
			env, err := schemas.Events.Decode(rec.Value)
			if err != nil {
				s.m.decodeErrors.Inc()
				if errors.Is(err, schemas.ErrUnknownEvent) {
					s.unknownEvent(rec, err)
					return
				}
				s.log.Warn("realtime tail: skipping a record that does not decode",
					"partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			if env.RoomID == 0 || env.Seq <= 0 || s.hub.delivered(env.RoomID, env.Seq) {
				// Delivered already (local.go came first): not opened
				// again, dispatch would drop it.
				return
			}
			envs = append(envs, env)
		})
		if len(envs) == 0 {
			continue
		}
		polled := time.Now()
		fetched := s.m.tailStages.WithLabelValues("fetched")
		for _, env := range envs {
			fetched.Observe(polled.Sub(env.OccurredAt).Seconds())
		}
		// The rooms whose texts the cache opens go first: a room waiting
		// for the key store (or a send's answer) holds up only itself.
		// Each room's events stay in order, and the next poll waits for both.
		cached, waiting := s.byKeys(envs)
		for _, part := range [][]schemas.Envelope{cached, waiting} {
			if len(part) == 0 {
				continue
			}
			began := time.Now()
			if err := s.openTexts(ctx, part); err != nil {
				return nil
			}
			opened := time.Now()
			s.m.tailStages.WithLabelValues("keys").Observe(opened.Sub(began).Seconds())
			for _, env := range part {
				s.hub.dispatch(env)
			}
			s.m.tailStages.WithLabelValues("dispatched").Observe(time.Since(opened).Seconds())
		}
	}
}

// byKeys splits a poll's events by room: those of the rooms whose every
// sealed text has its key cached, and those of the rooms with a text
// whose key must still be read, each in the poll's order.
func (s *Service) byKeys(envs []schemas.Envelope) (cached, waiting []schemas.Envelope) {
	var wait map[schemas.ID]bool
	for i := range envs {
		if !s.cfg.MessageKeys.Cached(&envs[i]) {
			if wait == nil {
				wait = map[schemas.ID]bool{}
			}
			wait[envs[i].RoomID] = true
		}
	}
	if wait == nil {
		return envs, nil
	}
	for _, env := range envs {
		if wait[env.RoomID] {
			waiting = append(waiting, env)
		} else {
			cached = append(cached, env)
		}
	}
	return cached, waiting
}

// openTexts opens the poll's sealed texts (docs/adr/0009), retrying while
// the key store does not answer: the rooms wait rather than skip a
// message. An error means ctx ended.
func (s *Service) openTexts(ctx context.Context, envs []schemas.Envelope) error {
	for {
		err := s.cfg.MessageKeys.Open(ctx, envs)
		if err == nil {
			return nil
		}
		s.log.Warn("realtime tail: message keys not readable, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// tailStart lists the rooms topic's last stable offsets.
func (s *Service) tailStart(ctx context.Context, cl *kgo.Client) (map[int32]kgo.Offset, error) {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	listed, err := kadm.NewClient(cl).ListCommittedOffsets(lctx, s.cfg.Names.Rooms)
	if err != nil {
		return nil, err
	}
	parts := listed[s.cfg.Names.Rooms]
	if len(parts) == 0 {
		return nil, errors.New("topic not found")
	}
	out := make(map[int32]kgo.Offset, len(parts))
	for p, o := range parts {
		if o.Err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, o.Err)
		}
		if p < 0 || o.Offset < 0 {
			return nil, fmt.Errorf("partition %d: no offset", p)
		}
		out[p] = kgo.NewOffset().At(o.Offset)
	}
	for p := range int32(len(out)) {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("partition %d missing from the listing", p)
		}
	}
	return out, nil
}

// janitor forgets idle rooms and users.
func (s *Service) janitor(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.hub.sweep(now)
			s.users.sweep(now)
		}
	}
}

// track registers an upgraded socket for shutdown; false when shutting down.
func (s *Service) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return true
}

func (s *Service) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
}

// shutdown closes every socket with 1001 and waits (bounded) for them.
func (s *Service) shutdown() {
	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.fail(CloseGoingAway, "server shutting down", false)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.log.Warn("realtime: sockets still closing at shutdown")
	}
}
