package bench

import (
	"log/slog"
	"net/netip"
	"time"
)

// Config is one benchmark run.
type Config struct {
	// Mode is ModeLoad (the default) or ModeIdle.
	Mode string
	// BaseURL is the HTTP API (http://host:port): the all-in-one server, or
	// the command service when split. WSURL is the realtime service
	// (ws://host:port); empty derives it from BaseURL.
	BaseURL    string
	WSURL      string
	AdminToken string
	// MetricsURLs are the base URLs of the servers whose /metrics are
	// scraped for CPU and memory; empty means BaseURL, plus WSURL's server
	// when it is another one.
	MetricsURLs []string
	// Rooms × Members sockets; Members is at most the room capacity. In
	// idle mode Members is the room size (default 20) and Rooms follows
	// from Conns.
	Rooms   int
	Members int
	// Rate is the total sends per second over all members (open loop): slot
	// k is due at start + k/Rate, whatever happened to the earlier ones.
	Rate float64
	// Shape picks each slot's sender: ShapeRandom (the default: a random
	// room, then a random member of it, from a PCG seeded with Seed) or
	// ShapeRoundRobin (the shape before issue 16, room by room).
	Shape string
	// Seed seeds the random shape's PCG (0 is a seed like any other; the
	// command line's default is DefaultSeed).
	Seed     uint64
	Duration time.Duration
	// Drain is the longest wait for the last deliveries after the last send.
	Drain     time.Duration
	BodyBytes int
	// PNG, if set, is where a load run draws its latency histogram.
	PNG string
	// Conns is the number of idle sockets (idle mode; default 20,000, or
	// Rooms × Members when Rooms is set); fewer when RLIMIT_NOFILE does not
	// allow as many.
	Conns int
	// Hold is how long idle sockets are kept open (default 60 s).
	Hold time.Duration
	// SettleWait is the longest wait for the server's memory to settle
	// before and after the idle sockets (default 20 s).
	SettleWait time.Duration
	// SourceIPs are the local addresses sockets are dialed from, in turn;
	// none lets the system choose.
	SourceIPs []netip.Addr
	// DialConcurrency bounds the socket dials in flight (default 64);
	// SetupWorkers the API calls during setup (default 32).
	DialConcurrency int
	SetupWorkers    int
	// HandshakeTimeout bounds one socket's dial, upgrade and presence frame
	// (default 15 s).
	HandshakeTimeout time.Duration
	Log              *slog.Logger
}

// setDefaults fills in what is unset: the idle mode's own defaults first
// (its room size, socket count and timings), then those of every run.
func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeLoad
	}
	if c.Mode == ModeIdle {
		setDefault(&c.Members, 20)
		if c.Conns <= 0 {
			c.Conns = 20000
			if c.Rooms > 0 {
				c.Conns = c.Rooms * c.Members
			}
		}
		setDefault(&c.Hold, 60*time.Second)
		setDefault(&c.SettleWait, 20*time.Second)
	}
	setDefault(&c.Rooms, 5)
	setDefault(&c.Members, 10)
	setDefault(&c.Rate, 50)
	if c.Shape == "" {
		c.Shape = ShapeRandom
	}
	setDefault(&c.Duration, 30*time.Second)
	setDefault(&c.Drain, 10*time.Second)
	setDefault(&c.BodyBytes, 64)
	setDefault(&c.DialConcurrency, 64)
	setDefault(&c.SetupWorkers, 32)
	setDefault(&c.HandshakeTimeout, 15*time.Second)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// setDefault sets *v to def when it is unset (zero or negative).
func setDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
