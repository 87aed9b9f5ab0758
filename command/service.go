package command

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/internal/cmdproto"
	"happychat/internal/kafkaretry"
	"happychat/internal/msgkeys"
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

// Service is the command service: the HTTP routes of the writes, and the Go
// API the realtime service uses for the socket's send.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	gen     *idgen.Gen // user and room ids, once the instance id is leased
	lease   *nodeLease
	store   *snapshotStore
	// msgKeys opens the texts of messages this service reads back from
	// the log (replays, read-backs); docs/adr/0009.
	msgKeys *msgkeys.Reader
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
	// writer is the group session's instance writer (docs/adr/0011),
	// used from feature level 6 (instanceMode); nil between sessions.
	writer atomic.Pointer[instanceWriter]
	// instanceGrant: this instance initialised a producer id under its
	// instance transactional id (instance_grant.go).
	instanceGrant atomic.Bool
	grantWarned   atomic.Bool

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
		msgKeys:  msgkeys.NewReader(cfg.Store, cfg.Names.Rooms),
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
	return slices.Concat([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks())},
		kafkaretry.Opts(), s.cfg.KafkaOpts)
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
	s.probeInstanceGrant(ctx)
	s.lease = newNodeLease(s.cfg.Store, s.cfg.Names.CommandGroup, s.advertisedLevel(), s.log)
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
