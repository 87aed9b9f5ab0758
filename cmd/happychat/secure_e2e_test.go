package main

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"happychat/cmd/internal/config"
	"happychat/cmd/internal/kafka"
	"happychat/internal/testenv"
	"happychat/query/openapi"
	"happychat/schemas"
)

// secureAdmin is the setup principal of deploy/local/kafka-secure.sh: a
// super user of the secured broker.
const secureAdmin = "happychat-admin"

// secured is a deployment prefix on the broker of
// deploy/local/kafka-secure.sh (SASL_SSL only, SCRAM-SHA-512, the
// StandardAuthorizer), its topics and ACLs made by the setup principal with
// `happychat topics` and `happychat acls` (docs/adr/0006-kafka-principals.md).
type secured struct {
	sk    testenv.SecureKafka
	base  map[string]string // every setting but Kafka's
	names schemas.Names
}

// newSecured sets up a fresh prefix; stores adds fresh databases to base.
func newSecured(t *testing.T, ctx context.Context, stores bool) *secured {
	t.Helper()
	sk := testenv.KafkaSecure(t)
	s := &secured{sk: sk, base: map[string]string{
		"CHAT_TOPIC_PREFIX":      "sec" + testenv.RandomHex(4),
		"CHAT_HTTP_ADDR":         "127.0.0.1:0",
		"CHAT_ADMIN_TOKEN":       e2eAdmin,
		"CHAT_TOKEN_SECRET":      "e2e-token-secret-0123456789",
		"CHAT_ROOM_PARTITIONS":   "3",
		"CHAT_USER_PARTITIONS":   "2",
		"HAPPYCHAT_STATE_DIR":    t.TempDir(),
		"CHAT_LOG_LEVEL":         "warn",
		"CHAT_RATE_LIMIT_EXEMPT": loopbackExempt,
	}}
	if stores {
		requireStores(t)
		for _, kv := range freshStores(t) {
			k, v, _ := strings.Cut(kv, "=")
			s.base[k] = v
		}
	}
	s.names = schemas.NamesFor(s.base["CHAT_TOPIC_PREFIX"])
	// A broker that does not take the setup principal's credentials is not
	// the one env.sh names.
	if _, err := runTool(ctx, s.as(secureAdmin), "topics"); err != nil {
		testenv.Unreachable(t, "Kafka (SASL_SSL)", strings.Join(sk.Brokers, ","), err)
	}
	if out, err := runTool(ctx, s.as(secureAdmin), "acls"); err != nil {
		t.Fatalf("happychat acls: %v\n%s", err, out)
	}
	// The prefix's topics and ACLs go with the test (after its services,
	// whose cleanups run first).
	admin := s.client(t, s.auth(t, secureAdmin))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm := kadm.NewClient(admin)
		_, _ = adm.DeleteTopics(ctx, s.names.Rooms, s.names.Users, s.names.Features, s.names.Typing)
		n := s.names
		_, _ = adm.DeleteACLs(ctx, kadm.NewACLs().Topics(n.Rooms, n.Users, n.Features, n.Typing).
			Groups(n.CommandGroup, n.ProjectorPostgresGroup, n.ProjectorClickHouseGroup).TransactionalIDs(n.CommandGroup+".p", n.CommandGroup+".i@").
			ResourcePatternType(kadm.ACLPatternAny).Allow().AllowHosts().Operations(kadm.OpAny))
	})
	return s
}

// client is a Kafka client of the secured broker authenticated by auth,
// closed with the test.
func (s *secured) client(t *testing.T, auth config.KafkaAuth, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	conn, err := kafka.Connection(auth, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{kgo.SeedBrokers(s.sk.Brokers...), kgo.DialTimeout(3 * time.Second)}, conn, opts)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// auth is user's authentication, as the binary reads it from s.as(user).
func (s *secured) auth(t *testing.T, user string) config.KafkaAuth {
	t.Helper()
	env := s.as(user)
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return c.KafkaAuth
}

// as is the environment of a process authenticated as user.
func (s *secured) as(user string) map[string]string {
	env := maps.Clone(s.base)
	maps.Copy(env, map[string]string{
		"KAFKA_BROKERS":                 strings.Join(s.sk.Brokers, ","),
		"CHAT_KAFKA_SASL_MECHANISM":     config.ScramSHA512,
		"CHAT_KAFKA_SASL_USER":          user,
		"CHAT_KAFKA_SASL_PASSWORD_FILE": s.sk.PasswordFile(user),
		"CHAT_KAFKA_TLS_CA":             s.sk.CAFile,
	})
	return env
}

// TestSecuredKafka runs the services split against the secured broker,
// each as its own principal: a message sent through the command service
// reaches a socket of the realtime service and the query service's
// history, so the ACL table gives each service what it needs.
func TestSecuredKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := newSecured(t, ctx, true)
	principals := kafka.DefaultPrincipals
	if out, err := runTool(ctx, s.base, "migrate"); err != nil {
		t.Fatalf("happychat migrate: %v\n%s", err, out)
	}
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	cmdBase := "http://" + runServing(t, "command", s.as(principals.Command))
	runServing(t, "projector", s.as(principals.Projector))
	rtEnv := s.as(principals.Realtime)
	rtEnv["CHAT_COMMAND_URL"] = internalBase(cmdBase)
	rtBase := "http://" + runServing(t, "realtime", rtEnv)
	// The query service reads the revocations (ADR 0007): the users topic only.
	queryBase := "http://" + runServing(t, "query", s.as(principals.Query))

	cmd := &rtDev{devSystem: &devSystem{t: t, base: cmdBase, doc: doc}}
	query := &rtDev{devSystem: &devSystem{t: t, base: queryBase, doc: doc}}
	room := cmd.openRoom("secured")
	alice, bob := cmd.member(room, "alice"), cmd.member(room, "bob")
	sock := dialRT(t, "bob", rtBase, room, bob, -1, nil)
	sock.presence()
	sent := cmd.post(room, alice, "over SASL_SSL")
	events, _ := sock.eventsUntil(sent.Seq, 30*time.Second)
	checkMessages(t, "bob's socket", events, []schemas.Message{sent})
	eventually(t, "the message in the query service's history", func() error {
		got, err := query.history(room, sent.ID-1)
		if err != nil {
			return err
		}
		for _, m := range got {
			if m.ID == sent.ID {
				return sameMessage(m, sent)
			}
		}
		return errors.New("not there yet")
	})
}

// TestSecuredKafkaRefusals knocks on the secured broker as an intruder
// would: with a reader's credentials (a realtime or projector host), with
// the command service's for what only setup does, without credentials,
// with a wrong password, in plaintext. None can append an event
// (docs/hostile-inputs.md, "Kafka").
func TestSecuredKafkaRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newSecured(t, ctx, false)
	sk, names, principals := s.sk, s.names, kafka.DefaultPrincipals

	client := func(t *testing.T, auth config.KafkaAuth, opts ...kgo.Opt) *kgo.Client {
		return s.client(t, auth, opts...)
	}
	scram := func(user string) config.KafkaAuth { return s.auth(t, user) }
	forged := func(topic string) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte("1"), Value: []byte(`{"type":"message.sent","forged":true}`)}
	}
	within := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}

	t.Run("a reader's credentials cannot append an event", func(t *testing.T) {
		for _, user := range []string{principals.Realtime, principals.Projector} {
			cl := client(t, scram(user))
			for _, topic := range []string{names.Rooms, names.Users} {
				err := cl.ProduceSync(within(20*time.Second), forged(topic)).FirstErr()
				if !errors.Is(err, kerr.TopicAuthorizationFailed) {
					t.Errorf("%s appending to %s: %v, want TOPIC_AUTHORIZATION_FAILED", user, topic, err)
				}
			}
		}
	})

	t.Run("a reader's credentials cannot take over a command owner's transactional id", func(t *testing.T) {
		// Fencing the owner of partition 0 would stop its appends.
		cl := client(t, scram(principals.Realtime), kgo.TransactionalID(names.CommandGroup+".p0"))
		err := cl.BeginTransaction()
		if err == nil {
			err = cl.ProduceSync(within(20*time.Second), forged(names.Rooms)).FirstErr()
		}
		if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			t.Errorf("realtime as a command owner's transactional id: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("the command service's credentials cannot create topics", func(t *testing.T) {
		cl := client(t, scram(principals.Command))
		_, err := kadm.NewClient(cl).CreateTopic(within(20*time.Second), 1, 1, nil, names.Rooms+".extra")
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Errorf("command creating a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
	})

	t.Run("a service's principal finds the topics set up, and cannot set them up", func(t *testing.T) {
		env := s.as(principals.Command)
		if out, err := runTool(ctx, env, "topics"); err != nil {
			t.Errorf("command's `happychat topics` on a set-up prefix: %v\n%s", err, out)
		}
		env["CHAT_TOPIC_PREFIX"] = "sec" + testenv.RandomHex(4)
		_, err := runTool(within(30*time.Second), env, "topics")
		if !errors.Is(err, kerr.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "run `happychat acls` as the setup principal") {
			t.Errorf("command's `happychat topics` on a new prefix: %v, want a refusal naming the fix", err)
		}
	})

	t.Run("a wrong password is refused", func(t *testing.T) {
		auth := scram(principals.Command)
		auth.Password = "not-the-password"
		err := client(t, auth).Ping(within(20 * time.Second))
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})

	t.Run("no credentials or no TLS is refused", func(t *testing.T) {
		for _, c := range []struct {
			name string
			auth config.KafkaAuth
			// refused recognises the broker's refusal among the
			// errors of the client's connections and requests.
			refused func(error) bool
		}{
			{"TLS without SASL", config.KafkaAuth{TLS: true, CAFile: sk.CAFile}, closedByBroker},
			// The broker answers plaintext with a TLS alert, which kgo
			// reports in words only.
			{"plaintext without TLS", config.KafkaAuth{}, func(err error) bool { return strings.Contains(err.Error(), "tls alert record") }},
			{"a CA the broker's isn't", config.KafkaAuth{TLS: true, Mechanism: config.ScramSHA512, User: principals.Command, Password: scram(principals.Command).Password},
				func(err error) bool { return errors.As(err, new(x509.UnknownAuthorityError)) }},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				var seen connErrors
				cl := client(t, c.auth, kgo.WithHooks(&seen))
				if err := cl.ProduceSync(within(5*time.Second), forged(names.Rooms)).FirstErr(); err == nil {
					t.Fatal("appended an event")
				}
				if errs := seen.all(); !slices.ContainsFunc(errs, c.refused) {
					t.Errorf("no refusal by the broker among %v", errs)
				}
			})
		}
	})
}

// connErrors records the errors of a client's connections and requests
// (kgo hooks): what the broker did, beyond the caller's deadline.
type connErrors struct {
	mu   sync.Mutex
	errs []error
}

func (c *connErrors) add(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *connErrors) all() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

func (c *connErrors) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		c.add(err)
	}
}

func (c *connErrors) OnBrokerE2E(_ kgo.BrokerMetadata, _ int16, e kgo.BrokerE2E) {
	if err := e.Err(); err != nil {
		c.add(err)
	}
}

// closedByBroker: the broker hung up on the request.
func closedByBroker(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
