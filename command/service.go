package command

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

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/cmdproto"
	"happychat/schemas"
	"happychat/schemas/idgen"
	"happychat/schemas/token"
)

// TextRules soften message bodies and find their screen effects for the
// answers the command service gives (the log keeps the text as sent).
type TextRules interface {
	Soften(string) string
	Effects(string) []string
}

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
// owner anyway, and never past the transaction timeout.
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

// Service is the command service: the HTTP routes of the writes, and the Go
// API the realtime service uses for the socket's send.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	gen     *idgen.Gen // user and room ids, once the instance id is leased
	lease   *nodeLease
	store   *snapshotStore
	topicID string
	admin   *kgo.Client // metadata, offsets, group descriptions
	userLog *kgo.Client // idempotent producer of the users topic
	limits  limiter
	doors   doors       // the address limits of the HTTP routes
	cap     *sessionCap // the cluster-wide session cap
	// webauthn is the passkeys' relying party (nil: not configured);
	// passkeys their store.
	webauthn *webauthn.WebAuthn
	passkeys *passkeyStore
	// adminToken recognises CHAT_ADMIN_TOKEN (by digest, token.Admin).
	adminToken token.Admin
	tail       *tail
	http       *http.Client
	// forwardSecrets and presenceSecrets are the secrets the internal
	// routes accept (acceptedSecrets).
	forwardSecrets, presenceSecrets []string

	advertise string

	fold  *fold        // set by Run before running is closed
	level atomic.Int32 // the cluster's feature level

	omu        sync.Mutex
	owners     map[int32]*owner
	partitions int
	directory  *directory
	running    chan struct{}
	// caughtUp is closed once the tail has read every partition up to where
	// the log ended at the start, just before the instance joins the owners'
	// group: until then it is not ready (Ready).
	caughtUp chan struct{}
}

// testHooks are seams for tests of failures that cannot be caused from
// outside the process without also stopping the group's heartbeats (a
// SIGSTOP would): nil in production.
type testHooks struct {
	// beforeCommit runs on the owner's goroutine between a batch's produce
	// and its commit.
	beforeCommit func(part int32)
	// level replaces the feature level this build understands.
	level int
	// leaseWait replaces how long an explicit instance id held by another
	// is waited for.
	leaseWait time.Duration
	// switchFails makes a switch-leave fail as if its append had (the
	// owner of the old room was going down).
	switchFails func() bool
	// caughtUp runs once the tail has caught up, before the instance is
	// ready and joins the group: a test holds a cold start there.
	caughtUp func()
}

// New builds the service; Run starts it.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Log.With("service", "command"),
		metrics:  newMetrics(cfg.Metrics),
		limits:   newLimiter(cfg),
		doors:    newDoors(cfg.Limits),
		owners:   map[int32]*owner{},
		store:    &snapshotStore{pool: cfg.Store, topic: cfg.Names.Rooms},
		http:     cmdproto.NewHTTPClient(forwardIdlePerHost),
		running:  make(chan struct{}),
		caughtUp: make(chan struct{}),
	}
	s.cap = &sessionCap{pool: cfg.Store, scope: cfg.Names.Users, perMin: cfg.Limits.SessionsPerMinute, log: s.log, now: cfg.Clock}
	s.passkeys = &passkeyStore{pool: cfg.Store, scope: cfg.Names.Users}
	var err error
	if s.webauthn, err = newWebAuthn(cfg.WebAuthn); err != nil {
		return nil, fmt.Errorf("command: passkeys (CHAT_WEBAUTHN_RP_ID, CHAT_WEBAUTHN_ORIGINS): %w", err)
	}
	s.tail = newTail(s)
	s.forwardSecrets, s.presenceSecrets = acceptedSecrets(cfg)
	s.adminToken, _ = token.NewAdmin(cfg.AdminToken) // validated above
	if s.admin, err = kgo.NewClient(s.baseOpts()...); err != nil {
		return nil, fmt.Errorf("kafka admin client: %w", err)
	}
	if s.userLog, err = kgo.NewClient(append(s.baseOpts(),
		kgo.RecordDeliveryTimeout(5*time.Second), kgo.ProducerLinger(0))...); err != nil {
		return nil, fmt.Errorf("kafka users producer: %w", err)
	}
	s.directory = newDirectory(s)
	return s, nil
}

func (s *Service) baseOpts() []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks()),
		// A request to a partition whose leader died refreshes metadata
		// until the new leader shows; franz-go's default minimum age of 5 s
		// between refreshes added up to 5 s to every failover (measured:
		// 8.5 s -> 3.9 s without an acknowledged send after a leader kill).
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, s.cfg.KafkaOpts...)
}

// Ping reports whether Kafka answers (for /readyz).
func (s *Service) Ping(ctx context.Context) error { return s.admin.Ping(ctx) }

// Run leases the instance id, loads the newest snapshot of every
// partition, tails the log from there, and joins the owners' group once the
// tail has caught up, with advertise as the address other instances forward
// to (host:port of this instance's HTTP server). It returns when ctx ends.
func (s *Service) Run(ctx context.Context, advertise string) error {
	defer s.admin.Close()
	defer s.userLog.Close()
	s.advertise = advertise
	started := time.Now()
	d, err := s.waitForTopic(ctx)
	if err != nil {
		return err
	}
	s.partitions = len(d.Partitions)
	if s.partitions > schemas.MaxRoomPartitions {
		return fmt.Errorf("topic %s has %d partitions, more than %d", s.cfg.Names.Rooms, s.partitions, schemas.MaxRoomPartitions)
	}
	s.topicID = d.ID.String()
	if err := s.store.migrate(ctx); err != nil {
		return fmt.Errorf("command store: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.lease = newNodeLease(s.cfg.Store, s.cfg.Names.CommandGroup, s.supportedLevel(), s.log)
	if s.cfg.hooks.leaseWait != 0 {
		s.lease.wait = s.cfg.hooks.leaseWait
	}
	node, err := s.lease.acquire(ctx, s.cfg.InstanceID)
	if err != nil {
		return err
	}
	// Read after the lease is taken: an operator raising the level from
	// now on sees this instance's build level and refuses if it is lower.
	if err := s.refreshLevel(ctx); err != nil {
		s.lease.release(ctx)
		return err
	}
	if s.gen, err = idgen.New(int64(schemas.InstanceNodeBase+node), idgen.WithClock(s.cfg.Clock)); err != nil {
		return err
	}
	s.fold = newFold(s.partitions)
	start, err := s.loadSnapshots(ctx)
	if err != nil {
		return err
	}
	ends, err := s.stableOffsets(ctx)
	if err != nil {
		return err
	}
	errc := make(chan error, 3)
	go func() { errc <- s.lease.keep(ctx, s.refreshLevel) }()
	go func() { errc <- s.tail.run(ctx, start) }()
	go func() {
		// A cold instance must not take partitions it would block while it
		// catches up: join the group only once the tail has read every
		// partition up to where the log was at the start.
		for p, end := range ends {
			if err := s.tail.waitFor(ctx, p, end); err != nil && !isBlocked(s, p) {
				errc <- err
				return
			}
		}
		took := time.Since(started)
		s.log.Info("caught up with the log", "records_replayed", s.tail.records(), "node", node,
			"took", took.Round(time.Millisecond))
		s.metrics.startupReplayed.Set(float64(s.tail.records()))
		s.metrics.startupSeconds.Set(took.Seconds())
		if h := s.cfg.hooks.caughtUp; h != nil {
			h()
		}
		close(s.caughtUp)
		go s.releaseStartupMemory(ctx)
		errc <- s.joinGroup(ctx)
	}()
	close(s.running)
	var first error
	for range 3 {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		} else if first == nil {
			cancel()
		}
	}
	s.stopAllOwners()
	s.lease.release(ctx)
	return first
}

// now is the service's clock.
func (s *Service) now() time.Time { return s.cfg.Clock() }

// partitionOf returns the partition of a room.
func (s *Service) partitionOf(room schemas.ID) int32 { return schemas.Partition(room, s.partitions) }

// mintID mints a user or room id, only while this instance holds the lease
// of its node id.
func (s *Service) mintID() (schemas.ID, error) {
	select {
	case <-s.running:
	default:
		return 0, unavailable("the command service is starting")
	}
	if !s.lease.valid() {
		return 0, unavailable("this server cannot mint ids now (its node id lease is not confirmed), retry")
	}
	id, err := s.gen.Next()
	if err != nil {
		return 0, unavailable("cannot mint an id now, retry")
	}
	return id, nil
}

// render turns a message.sent event into the API's Message.
func (s *Service) render(e schemas.Envelope) schemas.Message {
	p := e.Payload.(schemas.MessageSent)
	effects := s.cfg.Rules.Effects(p.Text)
	if effects == nil {
		effects = []string{}
	}
	return schemas.Message{
		ID: e.ID, RoomID: e.RoomID, UserID: e.UserID, Nickname: p.Nickname,
		Body: s.cfg.Rules.Soften(p.Text), SentAt: schemas.FormatTime(e.OccurredAt),
		ClientMsgID: p.ClientMsgID, Effects: effects, Seq: e.Seq,
		ReplyTo: p.ReplyTo, Mentions: p.Mentions,
	}
}
