package notifier

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/ratelimit"
	"happychat/schemas"
	"happychat/schemas/moderation"
	"happychat/schemas/token"
)

// Config is everything a notifier needs; cmd/ fills it from the environment.
type Config struct {
	PG *pgxpool.Pool
	// Kafka are the client options (seeds, connection); the notifier adds
	// its group and topic.
	Kafka []kgo.Opt
	Names schemas.Names
	Keys  *token.Keys
	Rules *moderation.Rules
	Log   *slog.Logger
	// Metrics, if set, registers the notifier's counters.
	Metrics prometheus.Registerer

	// VAPID keys (base64url, as webpush-go and the browsers' PushManager
	// use them) and the subject (a mailto: or https: URL) push services
	// may contact.
	VAPIDPublicKey, VAPIDPrivateKey, VAPIDSubject string

	// Window is how long the sends to one user and room are gathered into
	// one push (default 3s). MaxAge: a message older than this when read
	// is never pushed (default 10m). TTL is how long a push service keeps
	// an undelivered push (default 1h).
	Window, MaxAge, TTL time.Duration
	// MaxSubscriptions per user (default 10): one per browser or device.
	MaxSubscriptions int
	// AllowLoopback accepts http:// endpoints on loopback addresses and
	// lets the sender dial them: development and tests only. Private
	// addresses are refused always (the notifier must not be a way into
	// the deployment's own network).
	AllowLoopback bool
	// Attempts and Backoff: a push refused for a transient reason (a
	// network error, 429, 5xx) is tried Attempts times in all, waiting
	// Backoff, then twice that... (defaults 4, 500ms).
	Attempts int
	Backoff  time.Duration

	// Limits of the routes: per address (every public route), and per
	// user for subscriptions and mutes.
	Addresses  ratelimit.Addresses
	PerAddress ratelimit.Rate
	PerUser    ratelimit.Rate
}

func (c *Config) setDefaults() {
	if c.Window == 0 {
		c.Window = 3 * time.Second
	}
	if c.MaxAge == 0 {
		c.MaxAge = 10 * time.Minute
	}
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = 10
	}
	if c.Attempts == 0 {
		c.Attempts = 4
	}
	if c.Backoff == 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every missing or invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	check(c.PG != nil, "notifier: PostgreSQL pool missing")
	check(c.Keys != nil, "notifier: token keys missing")
	check(c.Rules != nil, "notifier: moderation rules missing")
	check(c.Names.Rooms != "" && c.Names.NotifierGroup != "", "notifier: topic names missing")
	if err := checkVAPID(c.VAPIDPublicKey, c.VAPIDPrivateKey); err != nil {
		errs = append(errs, err)
	}
	check(strings.HasPrefix(c.VAPIDSubject, "mailto:") || strings.HasPrefix(c.VAPIDSubject, "https://"),
		"CHAT_VAPID_SUBJECT must be a mailto: or https:// URL (push services contact it about abuse)")
	check(c.Window >= 0 && c.Window <= time.Minute, "CHAT_PUSH_WINDOW must be 0..1m")
	check(c.MaxAge >= time.Second, "CHAT_PUSH_MAX_AGE must be at least 1s")
	check(c.TTL >= 0 && c.TTL <= 28*24*time.Hour, "CHAT_PUSH_TTL must be 0..672h")
	check(c.MaxSubscriptions >= 1, "CHAT_PUSH_MAX_SUBSCRIPTIONS must be positive")
	check(c.Attempts >= 1 && c.Backoff > 0, "notifier: attempts and backoff must be positive")
	return errors.Join(errs...)
}

// checkVAPID checks that the keys are a P-256 pair in base64url: an
// uncompressed public point and the private scalar that makes it.
func checkVAPID(public, private string) error {
	pub, err := decodeKey(public)
	if err != nil || len(pub) != 65 || pub[0] != 4 {
		return fmt.Errorf("CHAT_VAPID_PUBLIC_KEY must be an uncompressed P-256 point in base64url (65 bytes)")
	}
	priv, err := decodeKey(private)
	if err != nil || len(priv) != 32 {
		return fmt.Errorf("CHAT_VAPID_PRIVATE_KEY must be a P-256 private key in base64url (32 bytes)")
	}
	if !samePair(pub, priv) {
		return errors.New("CHAT_VAPID_PRIVATE_KEY is not the private key of CHAT_VAPID_PUBLIC_KEY")
	}
	return nil
}
