package realtime

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
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
	// MessageKeys opens sealed message texts (docs/adr/0009); nil only
	// while the cluster is below feature level 4, which seals nothing.
	MessageKeys *msgkeys.Reader

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
	// MaxCatchUps bounds the partition readers of resumes open at once (32,
	// readers.go): resumes of a partition without one wait for one.
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
	// TypingInterval is the least time between two typing indicators of a
	// user (2 s; more are dropped, or refused with 429 over HTTP);
	// TypingTTL how long a client shows one (5 s), and the age past which
	// an instance no longer delivers it.
	TypingInterval time.Duration
	TypingTTL      time.Duration

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

	// Instance names this instance where it advertises the feature level
	// of its build (internal/fleet; default: host name, process id and a
	// random suffix).
	// FeatureLevel is that level (default schemas.FeatureLevel); only a
	// test running a newer build sets it.
	Instance     string
	FeatureLevel int

	Log *slog.Logger
	// Metrics, if set, receives this service's collectors.
	Metrics prometheus.Registerer

	hooks testHooks // test seams, zero in production
}

// testHooks are seams for tests that need resumes to overlap: zero in
// production.
type testHooks struct {
	// readerOpened runs on a partition reader's goroutine after its client
	// opened, before its first poll.
	readerOpened func(part int32)
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
	defDur(&c.TypingInterval, 2*time.Second)
	defDur(&c.TypingTTL, 5*time.Second)
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
	check(c.Names.Rooms != "" && c.Names.Features != "", "realtime: Names.Rooms and Names.Features are required")
	check(c.Commands != nil, "realtime: Commands is required")
	check(c.Keys != nil, "realtime: Keys is required")
	check(c.Rules != nil, "realtime: Rules is required")
	check(c.PingInterval < c.IdleTimeout, "realtime: PingInterval must be shorter than IdleTimeout")
	check(c.MaxFrameBytes >= 1024, "realtime: MaxFrameBytes must be at least 1024")
	return errors.Join(errs...)
}
