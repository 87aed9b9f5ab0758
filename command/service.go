package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/schemas"
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
	Brokers    []string
	Names      schemas.Names
	InstanceID int // unique among live instances: node id InstanceNodeBase+InstanceID
	// InternalSecret authenticates forwarded commands between instances.
	InternalSecret string
	Keys           *token.Keys
	AdminToken     string
	Capacity       int
	Rules          TextRules
	SendRate       float64
	SendBurst      int
	JoinRate       float64
	JoinBurst      int
	// SessionTimeout of the owners' consumer group (default 6 s): how long a
	// dead instance keeps its partitions before the others take them over.
	SessionTimeout time.Duration
	KafkaOpts      []kgo.Opt // extra client options (logger)
	Log            *slog.Logger
	Metrics        prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Capacity == 0 {
		c.Capacity = 20
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 6 * time.Second
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
	if c.InstanceID < 0 || c.InstanceID > schemas.MaxInstanceID {
		errs = append(errs, fmt.Errorf("command: instance id must be 0..%d", schemas.MaxInstanceID))
	}
	return errors.Join(errs...)
}

// Service is the command service: the HTTP routes of the writes, and the Go
// API the realtime service uses for the socket's send.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	gen     *schemas.IDGen // user and room ids
	admin   *kgo.Client    // metadata, offsets, group descriptions
	userLog *kgo.Client    // idempotent producer of the users topic
	limits  *limiter
	tail    *tail
	http    *http.Client

	advertise string

	// mu guards the fold: rooms and users, shared by the tail and the owners.
	mu    sync.Mutex
	rooms map[schemas.ID]*room
	users users

	omu        sync.Mutex
	owners     map[int32]*owner
	partitions int
	directory  *directory
	running    chan struct{}
}

// New builds the service; Run starts it.
func New(cfg Config) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	gen, err := schemas.NewIDGen(int64(schemas.InstanceNodeBase+cfg.InstanceID), 2*time.Second)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, log: cfg.Log.With("service", "command"), gen: gen,
		metrics: newMetrics(cfg.Metrics),
		limits:  newLimiter(cfg.SendRate, cfg.SendBurst, cfg.JoinRate, cfg.JoinBurst),
		rooms:   map[schemas.ID]*room{}, users: users{}, owners: map[int32]*owner{},
		http:    &http.Client{Timeout: 15 * time.Second, Transport: forwardTransport()},
		running: make(chan struct{}),
	}
	s.tail = newTail(s)
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
	return append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks())}, s.cfg.KafkaOpts...)
}

// Ping reports whether Kafka answers (for /readyz).
func (s *Service) Ping(ctx context.Context) error { return s.admin.Ping(ctx) }

// Run starts the tail and joins the owners' group with advertise as the
// address other instances forward to (host:port of this instance's HTTP
// server). It returns when ctx ends.
func (s *Service) Run(ctx context.Context, advertise string) error {
	defer s.admin.Close()
	defer s.userLog.Close()
	s.advertise = advertise
	// A topic created a moment ago may not be in every broker's metadata
	// yet: wait for it a little before giving up.
	var d kadm.TopicDetail
	deadline := time.Now().Add(30 * time.Second)
	for {
		details, err := kadm.NewClient(s.admin).ListTopics(ctx, s.cfg.Names.Rooms)
		var ok bool
		if err == nil {
			d, ok = details[s.cfg.Names.Rooms]
			ok = ok && d.Err == nil && len(d.Partitions) > 0
		}
		if ok {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("topic %s is missing (run happychat topics): %w", s.cfg.Names.Rooms, errors.Join(err, d.Err, ctx.Err()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.partitions = len(d.Partitions)
	if s.partitions > schemas.MaxRoomPartitions {
		return fmt.Errorf("topic %s has %d partitions, more than %d", s.cfg.Names.Rooms, s.partitions, schemas.MaxRoomPartitions)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- s.tail.run(ctx, s.partitions) }()
	go func() { errc <- s.joinGroup(ctx) }()
	close(s.running)
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	s.stopAllOwners()
	return first
}

// partitionOf returns the partition of a room.
func (s *Service) partitionOf(room schemas.ID) int32 { return schemas.Partition(room, s.partitions) }

// install makes a committed batch's rooms the current state and folds its
// membership events into the user locations.
func (s *Service) install(work map[schemas.ID]*room, overlay map[schemas.ID]map[sentKey]sent, events []schemas.Envelope) {
	var switches []switchNeeded
	s.mu.Lock()
	for id, w := range work {
		if cur, ok := s.rooms[id]; !ok || cur.seq < w.seq {
			s.rooms[id] = w
		}
	}
	for id, o := range overlay {
		if r, ok := s.rooms[id]; ok {
			for k, v := range o {
				r.sent[k] = v
			}
		}
	}
	for _, e := range events {
		if sw, ok := s.users.apply(e); ok {
			switches = append(switches, sw)
		}
	}
	s.mu.Unlock()
	for _, sw := range switches {
		s.requestSwitch(context.Background(), sw)
	}
}

// requestSwitch asks the owner of a superseded membership's room, if this
// instance owns it, to append the switch-leave. Other owners see the same
// join on their own tails.
func (s *Service) requestSwitch(ctx context.Context, sw switchNeeded) {
	o := s.ownerOf(s.partitionOf(sw.room))
	if o == nil {
		return
	}
	go func() {
		cmd := Command{Kind: kindSwitchLeave, RoomID: sw.room, UserID: sw.user, SwitchTo: sw.to, SwitchJoinID: sw.joinID}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := o.submit(ctx, cmd); err != nil {
			s.log.Warn("switch-leave not appended (the next owner will retry)", "room", sw.room, "user", sw.user, "err", err)
		}
	}()
}

// resolveSuperseded queues the switch-leaves a new owner inherits: members
// of its rooms whose latest join is elsewhere.
func (s *Service) resolveSuperseded(part int32) {
	var pending []switchNeeded
	s.mu.Lock()
	for id, r := range s.rooms {
		if s.partitionOf(id) != part {
			continue
		}
		for u, m := range r.members {
			if loc, ok := s.users[u]; ok && loc.superseded(id, m.joinID) {
				pending = append(pending, switchNeeded{room: id, user: u, to: loc.room, joinID: loc.joinID})
			}
		}
	}
	s.mu.Unlock()
	for _, sw := range pending {
		s.requestSwitch(context.Background(), sw)
	}
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
	}
}

// forwardTransport keeps an idle connection to the owning instance for
// every request forwarded at once; the default two per host would open and
// close a TCP connection for each one beyond the second.
func forwardTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return t
}
