// Package config parses the process configuration once, from the
// environment (flags may override), into typed structs with defaults and a
// Validate method. Nothing else in the project reads the environment.
package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"happychat/schemas"
	"happychat/schemas/token"
)

// Defaults of the servers that deploy/local starts.
const (
	DefaultHTTPAddr       = "127.0.0.1:8080"
	DefaultPGURL          = "postgres://happychat:happychat@127.0.0.1:15432/happychat?sslmode=disable" //nolint:gosec // G101: the local development server of deploy/local
	DefaultClickHouseAddr = "127.0.0.1:19000"
	DefaultClickHouseDB   = "happychat"
	DefaultLocalKafka     = "127.0.0.1:19092"
)

// defaultEffects are the screen effects a deployment has unless
// CHAT_EFFECT_WORDS says otherwise (set it to "-" for none).
const defaultEffects = "congrats=balloons,congratulations=balloons,happy birthday=confetti,축하=confetti,생일 축하=confetti"

// Config is everything any subcommand may need. Fields are grouped by the
// service that uses them; each service takes the values it needs.
type Config struct {
	// Shared.
	HTTPAddr     string   // CHAT_HTTP_ADDR
	KafkaBrokers []string // KAFKA_BROKERS (comma-separated); empty in dev = embedded broker
	TopicPrefix  string   // CHAT_TOPIC_PREFIX
	RoomParts    int      // CHAT_ROOM_PARTITIONS
	UserParts    int      // CHAT_USER_PARTITIONS
	Replication  int      // CHAT_REPLICATION_FACTOR
	MinISR       int      // CHAT_MIN_INSYNC_REPLICAS
	PGURL        string   // PG_URL
	CHAddr       string   // CLICKHOUSE_ADDR
	CHDatabase   string   // CLICKHOUSE_DB
	StateDir     string   // HAPPYCHAT_STATE_DIR
	InstanceID   int      // CHAT_INSTANCE_ID: unique among live instances (node ids); unset = leased automatically (-1)
	LogLevel     string   // CHAT_LOG_LEVEL: debug|info|warn|error
	// InternalAddr (CHAT_INTERNAL_ADDR) is the listener of what only the
	// deployment may reach: the command service's internal protocol,
	// /metrics and pprof. Default: DefaultInternalAddr(HTTPAddr).
	InternalAddr string
	// CHFlush (CHAT_CLICKHOUSE_FLUSH_INTERVAL) is how long the ClickHouse
	// projector gathers live rows into one insert: the history's lag
	// against ClickHouse's cost per insert (docs/projector.md).
	CHFlush time.Duration

	// Identity and rules.
	AdminToken     string            // CHAT_ADMIN_TOKEN
	TokenSecret    string            // CHAT_TOKEN_SECRET (HMAC key): signs new tokens
	PrevSecrets    []string          // CHAT_TOKEN_PREVIOUS_SECRETS: still verify tokens signed before a rotation
	TokenTTL       time.Duration     // CHAT_TOKEN_TTL
	Capacity       int               // CHAT_ROOM_CAPACITY
	ProfanityWords []string          // CHAT_PROFANITY_WORDS
	EffectWords    map[string]string // CHAT_EFFECT_WORDS word=effect

	// Command service.
	SendRate      float64       // CHAT_SEND_RATE per user per second
	SendBurst     int           // CHAT_SEND_BURST
	JoinRate      float64       // CHAT_JOIN_RATE per user per second
	JoinBurst     int           // CHAT_JOIN_BURST
	AdvertiseAddr string        // CHAT_ADVERTISE_ADDR: how other command instances reach this one
	CommandURL    string        // CHAT_COMMAND_URL: where split realtime sends writes
	DedupeWindow  time.Duration // CHAT_DEDUPE_WINDOW: sends kept in memory for retries, by age
	EditWindow    time.Duration // CHAT_EDIT_WINDOW: how long after sending its author may edit a message
	DedupeEntries int           // CHAT_DEDUPE_WINDOW_ENTRIES: and by count, per partition
	DedupeBytes   int           // CHAT_DEDUPE_WINDOW_BYTES: and by size, per partition
	SnapRecords   int           // CHAT_SNAPSHOT_RECORDS: a partition snapshot after this many records
	SnapInterval  time.Duration // CHAT_SNAPSHOT_INTERVAL: or after this long, if anything changed
	// OwnerSession (CHAT_OWNER_SESSION_TIMEOUT) is the session timeout of
	// the owners' group: how soon a dead instance's partitions move.
	// OwnerWrite (CHAT_OWNER_WRITE_TIMEOUT, 0 = half the session) bounds a
	// batch's append and a command's wait on its owner (docs/command.md).
	OwnerSession time.Duration
	OwnerWrite   time.Duration
	// ClockOffset (CHAT_CLOCK_OFFSET, e.g. -5s) shifts the clock the command
	// service mints ids and stamps events with. Test-only: the fault suite
	// runs an instance whose clock is behind; never set it in production.
	ClockOffset time.Duration
	// KafkaDialMap (CHAT_KAFKA_DIAL_MAP, broker=proxy,...) makes every
	// Kafka client of the process dial each broker address, seed or advertised in
	// metadata, at another address. Test-only: the fault suite puts a
	// fault-injecting proxy between one command instance and the brokers;
	// metadata names the brokers' own addresses, so redirecting the seeds
	// alone would not keep the traffic on the proxy.
	KafkaDialMap map[string]string
	// KafkaAuth is how every Kafka client of the process authenticates
	// (kafka_auth.go): plaintext unless configured.
	KafkaAuth KafkaAuth

	// Passkeys (command service, docs/adr/0008-passkeys.md).
	WebAuthnRPID    string   // CHAT_WEBAUTHN_RP_ID: the domain passkeys are bound to
	WebAuthnOrigins []string // CHAT_WEBAUTHN_ORIGINS: exact origins of the web client

	// Realtime service.
	AllowedOrigins  []string      // CHAT_ALLOWED_ORIGINS (exact origins; empty = same origin)
	WSMaxPerUser    int           // CHAT_WS_MAX_CONNS_PER_USER
	WSSendQueue     int           // CHAT_WS_SEND_QUEUE
	WSSendBuffer    int           // CHAT_WS_SEND_BUFFER: kernel send buffer per socket, bytes; 0 = the kernel's
	WSWriteTimeout  time.Duration // CHAT_WS_WRITE_TIMEOUT: longest a socket's write may block
	WSMaxFrameBytes int64         // CHAT_WS_MAX_FRAME_BYTES

	// Limits of every door (limits.go).
	Limits Limits
	// Query service: bounds on the expensive reads.
	AnalyticsConcurrency int   // CHAT_ANALYTICS_CONCURRENCY: analytics queries at once per instance
	ExportConcurrency    int   // CHAT_EXPORT_CONCURRENCY: exports at once per instance
	AnalyticsMaxRows     int64 // CHAT_ANALYTICS_MAX_ROWS: ClickHouse max_rows_to_read per analytics query
	AnalyticsMaxBytes    int64 // CHAT_ANALYTICS_MAX_BYTES: ClickHouse max_bytes_to_read per analytics query

	// Web Push notifier (docs/notifier.md). The keys are generated into
	// the state directory in dev when unset.
	Push Push
}

// Push is the notifier's configuration.
type Push struct {
	VAPIDPublicKey   string        // CHAT_VAPID_PUBLIC_KEY (base64url)
	VAPIDPrivateKey  string        // CHAT_VAPID_PRIVATE_KEY (base64url)
	VAPIDSubject     string        // CHAT_VAPID_SUBJECT: mailto: or https: contact for push services
	Window           time.Duration // CHAT_PUSH_WINDOW: sends to one user and room gathered into one push
	MaxAge           time.Duration // CHAT_PUSH_MAX_AGE: older messages are never pushed
	TTL              time.Duration // CHAT_PUSH_TTL: how long a push service keeps an undelivered push
	MaxSubscriptions int           // CHAT_PUSH_MAX_SUBSCRIPTIONS per user
	AllowLoopback    bool          // CHAT_PUSH_ALLOW_LOOPBACK: http(s) endpoints on loopback (dev, tests)
}

// Load reads the configuration from getenv. It never fails on a missing
// variable (defaults apply) but reports malformed values, all at once.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		HTTPAddr:     p.str("CHAT_HTTP_ADDR", DefaultHTTPAddr),
		KafkaBrokers: p.list("KAFKA_BROKERS"),
		TopicPrefix:  p.str("CHAT_TOPIC_PREFIX", schemas.DefaultPrefix),
		RoomParts:    p.int("CHAT_ROOM_PARTITIONS", 12),
		UserParts:    p.int("CHAT_USER_PARTITIONS", 6),
		Replication:  p.int("CHAT_REPLICATION_FACTOR", 1),
		MinISR:       p.int("CHAT_MIN_INSYNC_REPLICAS", 1),
		PGURL:        p.str("PG_URL", DefaultPGURL),
		CHAddr:       p.str("CLICKHOUSE_ADDR", DefaultClickHouseAddr),
		CHDatabase:   p.str("CLICKHOUSE_DB", DefaultClickHouseDB),
		CHFlush:      p.duration("CHAT_CLICKHOUSE_FLUSH_INTERVAL", 200*time.Millisecond),
		StateDir:     p.str("HAPPYCHAT_STATE_DIR", ".state"),
		InstanceID:   p.int("CHAT_INSTANCE_ID", -1),
		LogLevel:     p.str("CHAT_LOG_LEVEL", "info"),
		InternalAddr: p.str("CHAT_INTERNAL_ADDR", ""),

		AdminToken:     p.str("CHAT_ADMIN_TOKEN", ""),
		TokenSecret:    p.str("CHAT_TOKEN_SECRET", ""),
		PrevSecrets:    p.list("CHAT_TOKEN_PREVIOUS_SECRETS"),
		TokenTTL:       p.duration("CHAT_TOKEN_TTL", 30*24*time.Hour),
		Capacity:       p.int("CHAT_ROOM_CAPACITY", 20),
		ProfanityWords: p.list("CHAT_PROFANITY_WORDS"),
		EffectWords:    p.pairs("CHAT_EFFECT_WORDS", defaultEffects),

		SendRate:      p.float("CHAT_SEND_RATE", 5),
		SendBurst:     p.int("CHAT_SEND_BURST", 20),
		JoinRate:      p.float("CHAT_JOIN_RATE", 2),
		JoinBurst:     p.int("CHAT_JOIN_BURST", 10),
		AdvertiseAddr: p.str("CHAT_ADVERTISE_ADDR", ""),
		CommandURL:    p.str("CHAT_COMMAND_URL", ""),
		DedupeWindow:  p.duration("CHAT_DEDUPE_WINDOW", 24*time.Hour),
		EditWindow:    p.duration("CHAT_EDIT_WINDOW", 15*time.Minute),
		DedupeEntries: p.int("CHAT_DEDUPE_WINDOW_ENTRIES", 4096),
		DedupeBytes:   p.int("CHAT_DEDUPE_WINDOW_BYTES", 512<<10),
		SnapRecords:   p.int("CHAT_SNAPSHOT_RECORDS", 20000),
		SnapInterval:  p.duration("CHAT_SNAPSHOT_INTERVAL", 30*time.Second),
		OwnerSession:  p.duration("CHAT_OWNER_SESSION_TIMEOUT", 6*time.Second),
		OwnerWrite:    p.duration("CHAT_OWNER_WRITE_TIMEOUT", 0),
		ClockOffset:   p.duration("CHAT_CLOCK_OFFSET", 0),
		KafkaDialMap:  p.addrMap("CHAT_KAFKA_DIAL_MAP"),
		KafkaAuth:     p.loadKafkaAuth(),

		WebAuthnRPID:    p.str("CHAT_WEBAUTHN_RP_ID", "localhost"),
		WebAuthnOrigins: p.list("CHAT_WEBAUTHN_ORIGINS"),

		AllowedOrigins:  p.list("CHAT_ALLOWED_ORIGINS"),
		WSMaxPerUser:    p.int("CHAT_WS_MAX_CONNS_PER_USER", 5),
		WSSendQueue:     p.int("CHAT_WS_SEND_QUEUE", 256),
		WSSendBuffer:    p.int("CHAT_WS_SEND_BUFFER", 0),
		WSWriteTimeout:  p.duration("CHAT_WS_WRITE_TIMEOUT", 10*time.Second),
		WSMaxFrameBytes: int64(p.int("CHAT_WS_MAX_FRAME_BYTES", 16<<10)),

		Limits:               p.loadLimits(),
		AnalyticsConcurrency: p.int("CHAT_ANALYTICS_CONCURRENCY", 4),
		ExportConcurrency:    p.int("CHAT_EXPORT_CONCURRENCY", 8),
		AnalyticsMaxRows:     int64(p.int("CHAT_ANALYTICS_MAX_ROWS", 100_000_000)),
		AnalyticsMaxBytes:    int64(p.int("CHAT_ANALYTICS_MAX_BYTES", 8<<30)),

		Push: Push{
			VAPIDPublicKey:   p.str("CHAT_VAPID_PUBLIC_KEY", ""),
			VAPIDPrivateKey:  p.str("CHAT_VAPID_PRIVATE_KEY", ""),
			VAPIDSubject:     p.str("CHAT_VAPID_SUBJECT", "mailto:admin@localhost"),
			Window:           p.duration("CHAT_PUSH_WINDOW", 3*time.Second),
			MaxAge:           p.duration("CHAT_PUSH_MAX_AGE", 10*time.Minute),
			TTL:              p.duration("CHAT_PUSH_TTL", time.Hour),
			MaxSubscriptions: p.int("CHAT_PUSH_MAX_SUBSCRIPTIONS", 10),
			AllowLoopback:    p.bool("CHAT_PUSH_ALLOW_LOOPBACK"),
		},
	}
	if c.InternalAddr == "" {
		var err error
		if c.InternalAddr, err = DefaultInternalAddr(c.HTTPAddr); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if len(c.WebAuthnOrigins) == 0 && c.WebAuthnRPID == "localhost" {
		c.WebAuthnOrigins = DefaultWebAuthnOrigins(c.HTTPAddr)
	}
	if len(p.errs) > 0 {
		return c, errors.Join(p.errs...)
	}
	return c, c.Validate()
}

// Validate reports every invalid value at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.HTTPAddr != "", "CHAT_HTTP_ADDR must not be empty")
	// Two ephemeral ports (":0", in tests) are two listeners all the same.
	check(c.InternalAddr != "" && (c.InternalAddr != c.HTTPAddr || strings.HasSuffix(c.HTTPAddr, ":0")),
		"CHAT_INTERNAL_ADDR must be set and differ from CHAT_HTTP_ADDR")
	check(c.RoomParts >= 1 && c.RoomParts <= schemas.MaxRoomPartitions, "CHAT_ROOM_PARTITIONS must be 1..%d", schemas.MaxRoomPartitions)
	check(c.UserParts >= 1, "CHAT_USER_PARTITIONS must be positive")
	check(c.Replication >= 1, "CHAT_REPLICATION_FACTOR must be positive")
	check(c.MinISR >= 1 && c.MinISR <= c.Replication, "CHAT_MIN_INSYNC_REPLICAS must be 1..replication factor")
	check(c.InstanceID >= -1 && c.InstanceID <= schemas.MaxInstanceID, "CHAT_INSTANCE_ID must be 0..%d (or unset)", schemas.MaxInstanceID)
	check(c.DedupeWindow >= time.Minute, "CHAT_DEDUPE_WINDOW must be at least 1m")
	check(c.EditWindow >= time.Second && c.EditWindow <= 7*24*time.Hour, "CHAT_EDIT_WINDOW must be between 1s and 168h")
	check(c.DedupeEntries >= 16, "CHAT_DEDUPE_WINDOW_ENTRIES must be at least 16")
	check(c.DedupeBytes >= 64<<10, "CHAT_DEDUPE_WINDOW_BYTES must be at least 65536")
	check(c.SnapRecords >= 100, "CHAT_SNAPSHOT_RECORDS must be at least 100")
	check(c.SnapInterval >= time.Second, "CHAT_SNAPSHOT_INTERVAL must be at least 1s")
	check(c.CHFlush >= 10*time.Millisecond && c.CHFlush <= time.Minute, "CHAT_CLICKHOUSE_FLUSH_INTERVAL must be between 10ms and 1m")
	// Kafka's group.min.session.timeout.ms defaults to 6 s: a broker refuses
	// a shorter session unless configured to allow it.
	check(c.OwnerSession >= time.Second, "CHAT_OWNER_SESSION_TIMEOUT must be at least 1s")
	check(c.OwnerWrite == 0 || (c.OwnerWrite >= 100*time.Millisecond && c.OwnerWrite < c.OwnerSession),
		"CHAT_OWNER_WRITE_TIMEOUT must be 0 (half the session) or between 100ms and CHAT_OWNER_SESSION_TIMEOUT")
	check(c.ClockOffset.Abs() <= time.Hour, "CHAT_CLOCK_OFFSET (test-only) must be within ±1h")
	check(c.Capacity >= 1 && c.Capacity <= 10000, "CHAT_ROOM_CAPACITY must be 1..10000")
	check(c.TokenTTL > 0, "CHAT_TOKEN_TTL must be positive")
	for _, prev := range c.PrevSecrets {
		if len(prev) < 16 {
			check(false, "CHAT_TOKEN_PREVIOUS_SECRETS: each must be at least 16 bytes")
			break
		}
	}
	check(c.AdminToken == "" || len(c.AdminToken) >= token.MinAdminTokenLen,
		"CHAT_ADMIN_TOKEN must be at least %d characters (it has %d); generate one with `openssl rand -hex 32`", token.MinAdminTokenLen, len(c.AdminToken))
	check(c.SendRate > 0 && c.SendBurst >= 1, "CHAT_SEND_RATE and CHAT_SEND_BURST must be positive")
	check(c.JoinRate > 0 && c.JoinBurst >= 1, "CHAT_JOIN_RATE and CHAT_JOIN_BURST must be positive")
	check(c.WSMaxPerUser >= 1, "CHAT_WS_MAX_CONNS_PER_USER must be positive")
	check(c.WSSendQueue >= 1, "CHAT_WS_SEND_QUEUE must be positive")
	check(c.WSSendBuffer >= 0, "CHAT_WS_SEND_BUFFER must not be negative")
	check(c.WSWriteTimeout >= time.Second, "CHAT_WS_WRITE_TIMEOUT must be at least 1s")
	check(c.WSMaxFrameBytes >= 1024, "CHAT_WS_MAX_FRAME_BYTES must be at least 1024")
	c.Limits.validate(check)
	c.KafkaAuth.validate(check)
	check(c.AnalyticsConcurrency >= 1, "CHAT_ANALYTICS_CONCURRENCY must be positive")
	check(c.ExportConcurrency >= 1, "CHAT_EXPORT_CONCURRENCY must be positive")
	check(c.AnalyticsMaxRows >= 1, "CHAT_ANALYTICS_MAX_ROWS must be positive")
	check(c.AnalyticsMaxBytes >= 1, "CHAT_ANALYTICS_MAX_BYTES must be positive")
	check(c.TopicPrefix != "" && !strings.ContainsAny(c.TopicPrefix, " /\\"), "CHAT_TOPIC_PREFIX must be a plain name")
	check(c.WebAuthnRPID != "" && !strings.ContainsAny(c.WebAuthnRPID, ":/ ") && net.ParseIP(c.WebAuthnRPID) == nil,
		"CHAT_WEBAUTHN_RP_ID must be a domain name without scheme or port (not an IP address), such as chat.example.com")
	for _, o := range c.WebAuthnOrigins {
		check(strings.HasPrefix(o, "https://") || strings.HasPrefix(o, "http://localhost"),
			"CHAT_WEBAUTHN_ORIGINS: %q must be an https:// origin (or http://localhost in development)", o)
	}
	return errors.Join(errs...)
}

// DefaultWebAuthnOrigins is where passkeys work out of the box in
// development: the web client at http://localhost on the port of
// CHAT_HTTP_ADDR (browsers treat localhost as a secure context; an IP
// address can never be a relying party's id). None for an ephemeral or
// named port.
func DefaultWebAuthnOrigins(httpAddr string) []string {
	_, port, err := net.SplitHostPort(httpAddr)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n <= 0 {
		return nil
	}
	return []string{"http://localhost:" + port}
}

// Names returns the topic and group names of this deployment.
func (c Config) Names() schemas.Names { return schemas.NamesFor(c.TopicPrefix) }

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) str(key, def string) string {
	if v := strings.TrimSpace(p.getenv(key)); v != "" {
		return v
	}
	return def
}

// bool reads true/false (and 1/0, yes/no); empty is false.
func (p *parser) bool(key string) bool {
	switch v := strings.ToLower(strings.TrimSpace(p.getenv(key))); v {
	case "", "0", "false", "no":
		return false
	case "1", "true", "yes":
		return true
	default:
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not true or false", key, v))
		return false
	}
}

func (p *parser) int(key string, def int) int {
	v := strings.TrimSpace(p.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not an integer", key, v))
		return def
	}
	return n
}

func (p *parser) float(key string, def float64) float64 {
	v := strings.TrimSpace(p.getenv(key))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a number", key, v))
		return def
	}
	return f
}

func (p *parser) duration(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a duration", key, v))
		return def
	}
	return d
}

func (p *parser) list(key string) []string {
	var out []string
	for _, s := range strings.Split(p.getenv(key), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// addrMap reads from=to,from=to (host:port each); empty is no map.
func (p *parser) addrMap(key string) map[string]string {
	items := p.list(key)
	if len(items) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, kv := range items {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		_, _, errK := net.SplitHostPort(k)
		_, _, errV := net.SplitHostPort(v)
		if !ok || errK != nil || errV != nil {
			p.errs = append(p.errs, fmt.Errorf("%s: %q is not host:port=host:port", key, kv))
			continue
		}
		out[k] = v
	}
	return out
}

func (p *parser) pairs(key, def string) map[string]string {
	out := map[string]string{}
	items := p.list(key)
	switch strings.TrimSpace(p.getenv(key)) {
	case "":
		items = strings.Split(def, ",")
	case "-":
		return out
	}
	for _, kv := range items {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			p.errs = append(p.errs, fmt.Errorf("%s: %q is not word=effect", key, kv))
			continue
		}
		out[k] = v
	}
	return out
}
