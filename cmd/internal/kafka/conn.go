package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"happychat/cmd/internal/config"
)

// Connection returns the options that decide how every client of the
// process reaches the brokers: TLS and SASL/SCRAM from auth (one principal
// per service, docs/adr/0006-kafka-principals.md), and the test-only
// redirection of dialMap (CHAT_KAFKA_DIAL_MAP). Every Kafka client the
// binary builds takes them, so that no client of a secured process dials in
// plaintext or unauthenticated. Nothing configured, no option: plaintext as
// franz-go dials by default.
func Connection(auth config.KafkaAuth, dialMap map[string]string) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	var tlsCfg *tls.Config
	if auth.TLS {
		var err error
		if tlsCfg, err = tlsConfig(auth.CAFile); err != nil {
			return nil, err
		}
	}
	switch {
	case len(dialMap) > 0:
		// kgo refuses a Dialer beside DialTLSConfig: the redirecting
		// dialer does the handshake itself.
		opts = append(opts, kgo.Dialer(redirect(dialMap, tlsCfg)))
	case tlsCfg != nil:
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	switch auth.Mechanism {
	case "":
	case config.ScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: auth.User, Pass: auth.Password.Reveal()}.AsSha512Mechanism()))
	case config.ScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: auth.User, Pass: auth.Password.Reveal()}.AsSha256Mechanism()))
	default:
		return nil, fmt.Errorf("CHAT_KAFKA_SASL_MECHANISM %q is not supported", auth.Mechanism)
	}
	return opts, nil
}

// tlsConfig trusts the CAs of caFile, or the system's when it is empty.
func tlsConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile) //nolint:gosec // G304: the operator names the file
	if err != nil {
		return nil, fmt.Errorf("CHAT_KAFKA_TLS_CA: %w", err)
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, errors.New("CHAT_KAFKA_TLS_CA: no PEM certificate in " + caFile)
	}
	return c, nil
}

// redirect dials each broker address named in dialMap at the address it
// maps to: the seeds and the addresses metadata advertises alike, so that
// every connection of the client goes through the fault suite's proxy.
// Under TLS the certificate is checked against the broker's own name, not
// the proxy's, as kgo.DialTLSConfig would.
func redirect(dialMap map[string]string, tlsCfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		to := host
		if m, ok := dialMap[host]; ok {
			to = m
		}
		conn, err := d.DialContext(ctx, network, to)
		if err != nil || tlsCfg == nil {
			return conn, err
		}
		c := tlsCfg.Clone()
		if c.ServerName == "" {
			if c.ServerName, _, err = net.SplitHostPort(host); err != nil {
				_ = conn.Close()
				return nil, fmt.Errorf("broker address %q: %w", host, err)
			}
		}
		tc := tls.Client(conn, c)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return tc, nil
	}
}
