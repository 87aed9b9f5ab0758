package command

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/msgkeys"
	"happychat/schemas"
	"happychat/schemas/token"
)

// Config configures the command service. Zero values of optional fields get
// the defaults noted.
type Config struct {
	Brokers []string
	Names   schemas.Names
	// InstanceID picks node id InstanceNodeBase+InstanceID for user and
	// room ids. It is leased in PostgreSQL for the life of the process: a
	// second live instance asking for the same one refuses to start.
	// AutoInstanceID (-1) leases the first free one.
	InstanceID int
	// Store holds snapshots, evicted sends and node leases (PostgreSQL).
	Store *pgxpool.Pool
	// KeysStored, if set, is given every batch's message keys once they
	// are durable, before the batch commits. In one process with the
	// realtime service it seeds the tail's key cache (msgkeys.Reader.Seed),
	// so live messages open without a query to the store (issue 16). It
	// must not block.
	KeysStored func([]msgkeys.Key)
	// Committed, if set, is given the records of every transaction an
	// owner committed, before its commands are answered. In one process
	// with the realtime service it delivers them to the local sockets
	// ahead of the tail (realtime.Service.Committed, issue 16). It must not
	// block.
	Committed func([]*kgo.Record)
	// InternalSecret authenticates forwarded commands between instances
	// (cmdproto.Secret); PresenceSecret, the realtime service's, opens the
	// presence route only (cmdproto.PresenceSecret). Neither makes anyone a
	// user or an admin: a forwarded command carries its caller's credential.
	InternalSecret string
	PresenceSecret string
	// PreviousInternalSecrets and PreviousPresenceSecrets are the same
	// secrets derived from the token secrets of before a rotation
	// (CHAT_TOKEN_PREVIOUS_SECRETS): accepted on the routes their current
	// counterparts open, never sent. So during a rolling rotation an
	// instance on the new token secret and one on the old still accept each
	// other's forwards and presence requests (docs/command.md, "Rotating the
	// token secret").
	PreviousInternalSecrets []string
	PreviousPresenceSecrets []string

	Keys       *token.Keys
	AdminToken string
	Capacity   int
	Rules      TextRules
	SendRate   float64
	SendBurst  int
	JoinRate   float64
	JoinBurst  int
	// Limits are the other doors' limits (ratelimit.go); zero rates limit
	// nothing.
	Limits Limits
	// SessionTimeout of the owners' consumer group (default 6 s): how long a
	// dead instance keeps its partitions before the others take them over.
	SessionTimeout time.Duration
	// TransactionTimeout of the owners' transactions (default 15 s). It
	// also bounds an owner's recovery after a failed write (the abort):
	// past it the coordinator aborts the transaction by itself.
	TransactionTimeout time.Duration
	// WriteTimeout bounds how long a room command waits on its owner
	// (default half the SessionTimeout): the owner's write of a batch (its
	// produce and commit), and a local or forwarded command's wait for its
	// answer. Past it the command is answered 503 with Retry-After and the
	// client retries; an owner cut off from the brokers loses its
	// partitions after the session timeout, so a longer wait would only
	// hold the client on an owner that may no longer be one.
	WriteTimeout time.Duration
	// DedupeWindow, DedupeWindowEntries and DedupeWindowBytes bound the
	// sends an owner keeps in memory per partition (default 24 h, 4,096
	// and 512 KiB); older ones are looked up durably (see dedupe.go). The
	// window runs up to twice its bytes between snapshots, and the map's
	// overhead comes on top (docs/benchmarks.md has what that costs).
	DedupeWindow        time.Duration
	DedupeWindowEntries int
	DedupeWindowBytes   int
	// EditWindow is how long after sending its author may edit a message
	// (CHAT_EDIT_WINDOW, default 15 min).
	EditWindow time.Duration
	// SnapshotRecords and SnapshotInterval say when an owner writes a
	// snapshot: after that many records, or that long if anything changed
	// (default 20,000 and 30 s).
	SnapshotRecords  int
	SnapshotInterval time.Duration
	// Clock is the time source of decisions and ids (default time.Now): a
	// seam for tests of skewed clocks.
	Clock func() time.Time
	// WebAuthn is the relying party of the passkeys; without origins the
	// passkey routes answer 503.
	WebAuthn  WebAuthnConfig
	hooks     testHooks // test seams, nil in production
	KafkaOpts []kgo.Opt // extra client options (logger)
	Log       *slog.Logger
	Metrics   prometheus.Registerer
}

// finishTimeout bounds a batch's whole write (produce and commit), past
// the write timeout at which its commands were answered: the session
// timeout, after which the group may have given the partition to another
// owner anyway, and never past the transaction timeout. Not longer: tried
// with the transaction timeout (15 s), a batch whose transaction
// coordinator had died never completed after the new leaders took over
// (the leader verifies a transactional produce with the coordinator), so
// it failed at 15 s instead of 6 and its partition went 19.7–26 s without
// a write (txn-coordinator-kill, leader-kill; docs/reliability.md).
func (c *Config) finishTimeout() time.Duration {
	return max(c.WriteTimeout, min(c.SessionTimeout, c.TransactionTimeout))
}

func (c *Config) setDefaults() {
	if c.Capacity == 0 {
		c.Capacity = 20
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 6 * time.Second
	}
	if c.TransactionTimeout == 0 {
		c.TransactionTimeout = 15 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = c.SessionTimeout / 2
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = 24 * time.Hour
	}
	if c.DedupeWindowEntries == 0 {
		c.DedupeWindowEntries = 4096
	}
	if c.EditWindow == 0 {
		c.EditWindow = 15 * time.Minute
	}
	if c.DedupeWindowBytes == 0 {
		c.DedupeWindowBytes = 512 << 10
	}
	if c.SnapshotRecords == 0 {
		c.SnapshotRecords = 20000
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.WebAuthn.ChallengeTTL == 0 {
		c.WebAuthn.ChallengeTTL = 5 * time.Minute
	}
	if c.SendRate == 0 {
		c.SendRate, c.SendBurst = 5, 20
	}
	if c.JoinRate == 0 {
		c.JoinRate, c.JoinBurst = 2, 10
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = prometheus.NewRegistry()
	}
}

// Validate reports every missing or invalid setting.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("command: no Kafka brokers"))
	}
	if c.Names.Rooms == "" || c.Names.Users == "" || c.Names.CommandGroup == "" {
		errs = append(errs, errors.New("command: topic names missing"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("command: token keys missing"))
	}
	if c.Rules == nil {
		errs = append(errs, errors.New("command: text rules missing"))
	}
	if len(c.InternalSecret) < 16 {
		errs = append(errs, errors.New("command: internal secret must be at least 16 bytes"))
	}
	for _, p := range slices.Concat(c.PreviousInternalSecrets, c.PreviousPresenceSecrets) {
		if len(p) < 16 {
			errs = append(errs, errors.New("command: a previous internal secret must be at least 16 bytes"))
			break
		}
	}
	if c.Store == nil {
		errs = append(errs, errors.New("command: PostgreSQL store missing (snapshots, dedupe, node leases)"))
	}
	if _, err := token.NewAdmin(c.AdminToken); err != nil {
		errs = append(errs, fmt.Errorf("command: CHAT_ADMIN_TOKEN: %w", err))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, errors.New("command: write timeout must be positive"))
	}
	if c.InstanceID < AutoInstanceID || c.InstanceID > schemas.MaxInstanceID {
		errs = append(errs, fmt.Errorf("command: instance id must be 0..%d", schemas.MaxInstanceID))
	}
	return errors.Join(errs...)
}

// AutoInstanceID asks for the first free instance id.
const AutoInstanceID = -1
