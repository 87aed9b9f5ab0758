package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// SASL mechanisms a process may authenticate to the brokers with. Only
// SCRAM: its password never crosses the wire, and the brokers keep salted
// hashes of it, not the password (docs/adr/0006-kafka-principals.md).
const (
	ScramSHA512 = "SCRAM-SHA-512"
	ScramSHA256 = "SCRAM-SHA-256"
)

// KafkaAuth is how a process reaches the brokers: plaintext without any
// setting (the default of `make run` and of the tests' shared broker), TLS
// with CHAT_KAFKA_TLS or a CA, SASL/SCRAM as one principal per service on
// top of it.
type KafkaAuth struct {
	Mechanism string // CHAT_KAFKA_SASL_MECHANISM: "" (none), SCRAM-SHA-512 or SCRAM-SHA-256
	User      string // CHAT_KAFKA_SASL_USER: the service's principal
	// Password is CHAT_KAFKA_SASL_PASSWORD, or the content of the file
	// CHAT_KAFKA_SASL_PASSWORD_FILE (trailing newline removed), which keeps
	// it out of the process's environment.
	Password Secret
	TLS      bool   // CHAT_KAFKA_TLS: dial the brokers with TLS (implied by a CA)
	CAFile   string // CHAT_KAFKA_TLS_CA: PEM file of the CAs to trust instead of the system's
}

// Secret is a configured value that must never reach a log line or an error
// message: every formatting of it says "[redacted]" (fmt's %v, %s, %q and
// %#v, and slog), whatever struct it is printed in.
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return `"[redacted]"` }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal is the value itself, for the one place that hands it over:
// kafka.Connection, to the SCRAM mechanism.
func (s Secret) Reveal() string { return string(s) }

// Enabled reports whether any setting asks for more than plaintext.
func (a KafkaAuth) Enabled() bool { return a.Mechanism != "" || a.TLS }

func (p *parser) loadKafkaAuth() KafkaAuth {
	a := KafkaAuth{
		Mechanism: strings.ToUpper(p.str("CHAT_KAFKA_SASL_MECHANISM", "")),
		User:      p.str("CHAT_KAFKA_SASL_USER", ""),
		Password:  Secret(p.getenv("CHAT_KAFKA_SASL_PASSWORD")),
		TLS:       p.bool("CHAT_KAFKA_TLS"),
		CAFile:    p.str("CHAT_KAFKA_TLS_CA", ""),
	}
	if file := p.str("CHAT_KAFKA_SASL_PASSWORD_FILE", ""); file != "" {
		if a.Password != "" {
			p.errs = append(p.errs, fmt.Errorf("CHAT_KAFKA_SASL_PASSWORD and CHAT_KAFKA_SASL_PASSWORD_FILE exclude each other"))
		}
		b, err := os.ReadFile(file) //nolint:gosec // G304: the operator names the file
		if err != nil {
			// The path may be shown; the content never is.
			p.errs = append(p.errs, fmt.Errorf("CHAT_KAFKA_SASL_PASSWORD_FILE: %w", err))
		}
		a.Password = Secret(strings.TrimRight(string(b), "\r\n"))
	}
	if a.CAFile != "" {
		a.TLS = true
	}
	return a
}

// validate reports through check; it never prints the password.
func (a KafkaAuth) validate(check func(bool, string, ...any)) {
	switch a.Mechanism {
	case "":
		check(a.User == "" && a.Password == "",
			"CHAT_KAFKA_SASL_USER and a password need CHAT_KAFKA_SASL_MECHANISM (%s): without it the process would connect unauthenticated", ScramSHA512)
	case ScramSHA512, ScramSHA256:
		check(a.User != "" && a.Password != "",
			"CHAT_KAFKA_SASL_MECHANISM %s needs CHAT_KAFKA_SASL_USER and CHAT_KAFKA_SASL_PASSWORD or CHAT_KAFKA_SASL_PASSWORD_FILE", a.Mechanism)
		// SCRAM proves the password without sending it, but over plaintext
		// everything after the handshake (every event) could be read and
		// altered by whoever sits on the path.
		check(a.TLS, "CHAT_KAFKA_SASL_MECHANISM needs TLS (CHAT_KAFKA_TLS=true or CHAT_KAFKA_TLS_CA): the session after the SCRAM handshake is not encrypted otherwise")
	default:
		check(false, "CHAT_KAFKA_SASL_MECHANISM must be %s or %s, not %q", ScramSHA512, ScramSHA256, a.Mechanism)
	}
}
