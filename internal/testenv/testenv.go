// Package testenv tells integration tests where the local servers are and
// what to do when one does not answer.
//
// The addresses come from the environment that deploy/local/env.sh prints
// (KAFKA_BROKERS, PG_URL, CLICKHOUSE_ADDR, KAFKA_SECURE_*), else from the
// ports deploy/local uses. A server that does not answer skips the test, so that a laptop
// without the servers can still run the rest; under CI (CI set) it fails the
// test instead, because CI starts every server and a skip there would hide a
// broken set-up behind a green run. The helpers that need a server skip
// under -short first (or are only called by tests that do), so that
// `go test -short` needs none.
//
// Test support only; it imports no role package. Fresh databases are
// [happychat/internal/pgtest] and [happychat/internal/chtest].
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The servers of deploy/local (its ports are defined in deploy/local/lib.sh).
const (
	DefaultKafkaBrokers   = "127.0.0.1:19092"
	DefaultPGURL          = "postgres://happychat:happychat@127.0.0.1:15432/happychat?sslmode=disable"
	DefaultClickHouseAddr = "127.0.0.1:19000"
	// DefaultKafkaSecureBrokers is deploy/local/kafka-secure.sh's SASL_SSL
	// listener.
	DefaultKafkaSecureBrokers = "127.0.0.1:19094"
)

// Getenv returns $key, or def when it is unset or empty.
func Getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// LongEnv is the variable that runs the tests [Long] leaves out.
const LongEnv = "HAPPYCHAT_LONG_TESTS"

// Long skips the rest of a test unless $HAPPYCHAT_LONG_TESTS is 1: a case
// whose fault make test already runs elsewhere (why, in the skip's message),
// kept whole for a change to the paths it covers. A broker's restart costs
// 25-50 s of a 2-core CI machine; make test must stay within 30 minutes.
func Long(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(LongEnv) != "1" {
		t.Skipf("%s; %s=1 runs it too", why, LongEnv)
	}
}

// KafkaBrokers returns the bootstrap list $KAFKA_BROKERS (comma-separated),
// else [DefaultKafkaBrokers]. It checks nothing: see [Kafka].
func KafkaBrokers() []string {
	return strings.Split(Getenv("KAFKA_BROKERS", DefaultKafkaBrokers), ",")
}

// PGURL returns $PG_URL, else [DefaultPGURL].
func PGURL() string { return Getenv("PG_URL", DefaultPGURL) }

// ClickHouseAddr returns $CLICKHOUSE_ADDR (host:port of the native
// protocol), else [DefaultClickHouseAddr].
func ClickHouseAddr() string { return Getenv("CLICKHOUSE_ADDR", DefaultClickHouseAddr) }

// Kafka returns [KafkaBrokers] once a broker has answered a Kafka request
// (a TCP connection alone does not show that the broker serves). It skips
// the test under -short; a Kafka that does not answer within 5 s is
// [Unreachable].
func Kafka(t testing.TB) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs Kafka")
	}
	brokers := KafkaBrokers()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = cl.Ping(ctx)
		cancel()
		cl.Close()
	}
	if err != nil {
		Unreachable(t, "Kafka", strings.Join(brokers, ","), err)
	}
	return brokers
}

// DropTopicsAfter deletes, when t ends, every topic whose name starts with
// prefix and a dot: the topics a test's system made (schemas.NamesFor).
// The shared broker of deploy/local otherwise keeps them, and a broker's
// restart loads every partition it holds: 3,217 left by earlier tests made
// an unclean restart take 49 s (docs/reliability.md, "kafka-restart").
func DropTopicsAfter(t testing.TB, brokers []string, prefix string) {
	t.Helper()
	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			return
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adm := kadm.NewClient(cl)
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			t.Logf("list topics to drop %s.*: %v", prefix, err)
			return
		}
		var mine []string
		for _, name := range topics.Names() {
			if strings.HasPrefix(name, prefix+".") {
				mine = append(mine, name)
			}
		}
		if len(mine) == 0 {
			return
		}
		if _, err := adm.DeleteTopics(ctx, mine...); err != nil {
			t.Logf("drop topics %s.*: %v", prefix, err)
		}
	})
}

// SecureKafka is the broker of deploy/local/kafka-secure.sh, whose only
// listener requires SASL_SSL, and what a client needs to reach it: the CA
// that signed its certificate and the SCRAM users' password files.
type SecureKafka struct {
	Brokers []string
	CAFile  string // PEM of the throwaway CA ($KAFKA_SECURE_CA)
	Secrets string // directory of <user>.password files ($KAFKA_SECURE_SECRETS)
}

// PasswordFile is the file holding user's SCRAM password.
func (k SecureKafka) PasswordFile(user string) string {
	return filepath.Join(k.Secrets, user+".password")
}

// KafkaSecure returns the secured broker from $KAFKA_SECURE_BROKERS (else
// [DefaultKafkaSecureBrokers]), $KAFKA_SECURE_CA and $KAFKA_SECURE_SECRETS
// (deploy/local/env.sh prints them). It skips the test under -short; a
// broker that does not accept connections, or a CA or secrets directory
// that is not there, is [Unreachable]. Whether the broker serves is for
// the test to see with the credentials it chooses.
func KafkaSecure(t testing.TB) SecureKafka {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the SASL_SSL Kafka of deploy/local/kafka-secure.sh")
	}
	k := SecureKafka{
		Brokers: strings.Split(Getenv("KAFKA_SECURE_BROKERS", DefaultKafkaSecureBrokers), ","),
		CAFile:  os.Getenv("KAFKA_SECURE_CA"),
		Secrets: os.Getenv("KAFKA_SECURE_SECRETS"),
	}
	addr := strings.Join(k.Brokers, ",")
	for name, f := range map[string]string{"KAFKA_SECURE_CA": k.CAFile, "KAFKA_SECURE_SECRETS": k.Secrets} {
		if f == "" {
			Unreachable(t, "Kafka (SASL_SSL)", addr, errors.New(name+" is not set (deploy/local/env.sh prints it)"))
		}
		if _, err := os.Stat(f); err != nil {
			Unreachable(t, "Kafka (SASL_SSL)", addr, fmt.Errorf("%s: %w", name, err))
		}
	}
	Reach(t, "Kafka (SASL_SSL)", k.Brokers[0])
	return k
}

// Reach checks that server (a name for the message) accepts TCP connections
// at addr within 3 s, and calls [Unreachable] when it does not: a cheap
// check for tests that start a binary which would otherwise only time out.
func Reach(t testing.TB, server, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		Unreachable(t, server, addr, err)
	}
	_ = c.Close()
}

// Unreachable ends the test because server at addr did not answer: it
// fails the test when CI is set and skips it otherwise (see the package
// comment for why). addr must not hold a password: redact URLs first.
func Unreachable(t testing.TB, server, addr string, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s at %s is not reachable: %v", server, addr, err)
	}
	t.Skipf("%s at %s is not reachable (deploy/local/up.sh starts it): %v", server, addr, err)
}

// RandomName returns prefix followed by 12 random hex digits: a name for a
// topic, database or id that no other test run on the same servers uses,
// since the servers are shared by parallel packages and repeated runs.
func RandomName(prefix string) string { return prefix + RandomHex(6) }

// RandomHex returns n random bytes in hex (2n digits), for secrets and
// names of a given length.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
