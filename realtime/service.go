package realtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/httperr"
	"happychat/internal/ratelimit"
	"happychat/schemas"
	"happychat/schemas/token"
)

// Config configures a Service. Zero durations, rates and sizes take the
// defaults named on each field.
type Config struct {
	// Brokers are the Kafka seed brokers; KafkaOpts are added to every
	// client this service makes (logger, dial timeout, TLS, …).
	Brokers   []string
	KafkaOpts []kgo.Opt
	// Names are the topic names; the rooms topic is tailed.
	Names schemas.Names
	// Commands is the command service (sends, presence snapshots).
	Commands Commands
	// Keys verifies bearer tokens.
	Keys *token.Keys
	// Rules soften message bodies and name effects (*moderation.Rules).
	Rules Moderation
	// Locator positions resumes on the log; nil means FromStart.
	Locator OffsetLocator

	// AllowedOrigins are the exact origins (scheme://host[:port]) whose
	// browsers may open sockets. Empty: same origin only (the Origin's host
	// equals the request's Host). A request without Origin (not a browser)
	// is allowed.
	AllowedOrigins []string
	// MaxConnsPerUser caps one user's open sockets on this instance (5).
	MaxConnsPerUser int
	// SendQueue is the per-socket queue of frames waiting to be written
	// (256); a socket whose queue overflows is closed with 4008.
	SendQueue int
	// SocketSendBuffer, if set, is the kernel send buffer (SO_SNDBUF) of each
	// socket. The kernel otherwise grows it to megabytes for a client that
	// reads slowly, which delays the send queue's verdict on it by as much
	// data and holds that memory per socket.
	SocketSendBuffer int
	// MaxFrameBytes is the largest client frame (16 KiB); larger: close 1009.
	MaxFrameBytes int64
	// RecentEvents is the per-room ring of recent event frames kept while the
	// room has sockets here, and for RoomGrace after (128, 2 min).
	RecentEvents int
	RoomGrace    time.Duration
	// MaxCatchUps bounds the resumes reading the log at once (32); more wait.
	MaxCatchUps int

	// PingInterval is how often the server pings (20 s); IdleTimeout closes
	// a socket that sent nothing, pongs included, for that long (45 s).
	PingInterval time.Duration
	IdleTimeout  time.Duration
	// WriteTimeout bounds one frame's write (10 s).
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the upgrade response's write (10 s) and the
	// presence lookup before it.
	HandshakeTimeout time.Duration
	// SendTimeout bounds one send through Commands (10 s).
	SendTimeout time.Duration

	// FrameRate/FrameBurst limit a socket's incoming frames of any kind
	// (20/s, burst 40); UserSendRate/UserSendBurst a user's sends across
	// its sockets here (5/s, burst 20); UserConnectRate/UserConnectBurst a
	// user's handshakes (2/s, burst 10).
	FrameRate        float64
	FrameBurst       int
	UserSendRate     float64
	UserSendBurst    int
	UserConnectRate  float64
	UserConnectBurst int
	// Addresses, HandshakesPerAddress: handshakes by client address (limits.go).
	Addresses            ratelimit.Addresses
	HandshakesPerAddress ratelimit.Rate

	Log *slog.Logger
	// Metrics, if set, receives this service's collectors.
	Metrics prometheus.Registerer
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defRate := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConnsPerUser, 5)
	def(&c.SendQueue, 256)
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = 16 << 10
	}
	def(&c.RecentEvents, 128)
	defDur(&c.RoomGrace, 2*time.Minute)
	def(&c.MaxCatchUps, 32)
	defDur(&c.PingInterval, 20*time.Second)
	defDur(&c.IdleTimeout, 45*time.Second)
	defDur(&c.WriteTimeout, 10*time.Second)
	defDur(&c.HandshakeTimeout, 10*time.Second)
	defDur(&c.SendTimeout, 10*time.Second)
	defRate(&c.FrameRate, 20)
	def(&c.FrameBurst, 40)
	defRate(&c.UserSendRate, 5)
	def(&c.UserSendBurst, 20)
	defRate(&c.UserConnectRate, 2)
	def(&c.UserConnectBurst, 10)
	if c.Locator == nil {
		c.Locator = FromStart{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every missing or inconsistent field at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	check(len(c.Brokers) > 0, "realtime: Brokers is required")
	check(c.Names.Rooms != "", "realtime: Names.Rooms is required")
	check(c.Commands != nil, "realtime: Commands is required")
	check(c.Keys != nil, "realtime: Keys is required")
	check(c.Rules != nil, "realtime: Rules is required")
	check(c.PingInterval < c.IdleTimeout, "realtime: PingInterval must be shorter than IdleTimeout")
	check(c.MaxFrameBytes >= 1024, "realtime: MaxFrameBytes must be at least 1024")
	return errors.Join(errs...)
}

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
	catchUpSlots chan struct{}

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
	s := &Service{
		cfg: cfg, log: cfg.Log, m: m,
		hub:          newHub(cfg.RecentEvents, cfg.RoomGrace, cfg.Rules, m, cfg.Log),
		ready:        make(chan struct{}),
		catchUpSlots: make(chan struct{}, cfg.MaxCatchUps),
		conns:        map[*conn]struct{}{},
	}
	s.users = newUsers(&s.cfg)
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

// Handler serves GET /v1/ws.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveWS) }

// Register mounts GET /v1/ws on r.
func (s *Service) Register(r gin.IRouter) { r.GET("/v1/ws", gin.WrapH(s.Handler())) }

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
	opts := []kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...)}
	return append(opts, s.cfg.KafkaOpts...)
}

// Run tails the rooms topic until ctx ends, then closes every socket with
// 1001 and returns nil. It waits (retrying) for the topic to exist.
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
				s.log.Warn("realtime tail: skipping a record that does not decode",
					"partition", rec.Partition, "offset", rec.Offset, "err", err)
				return
			}
			if env.RoomID == 0 || env.Seq <= 0 {
				return
			}
			s.hub.dispatch(env)
		})
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
