package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKafkaAuth(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	tests := []struct {
		name    string
		env     map[string]string
		want    KafkaAuth
		wantErr string
	}{
		{name: "plaintext by default", want: KafkaAuth{}},
		{name: "scram over TLS with a password file", env: map[string]string{
			"CHAT_KAFKA_SASL_MECHANISM": "scram-sha-512", "CHAT_KAFKA_SASL_USER": "happychat-command",
			"CHAT_KAFKA_SASL_PASSWORD_FILE": pwFile, "CHAT_KAFKA_TLS_CA": ca,
		}, want: KafkaAuth{Mechanism: ScramSHA512, User: "happychat-command", Password: "s3cret-from-file", TLS: true, CAFile: ca}},
		{name: "scram over TLS with the system's CAs", env: map[string]string{
			"CHAT_KAFKA_SASL_MECHANISM": ScramSHA256, "CHAT_KAFKA_SASL_USER": "u", "CHAT_KAFKA_SASL_PASSWORD": "pw-9f3a", "CHAT_KAFKA_TLS": "true",
		}, want: KafkaAuth{Mechanism: ScramSHA256, User: "u", Password: "pw-9f3a", TLS: true}},
		{name: "TLS alone", env: map[string]string{"CHAT_KAFKA_TLS": "1"}, want: KafkaAuth{TLS: true}},
		{name: "scram without TLS", env: map[string]string{
			"CHAT_KAFKA_SASL_MECHANISM": ScramSHA512, "CHAT_KAFKA_SASL_USER": "u", "CHAT_KAFKA_SASL_PASSWORD": "pw-9f3a",
		}, wantErr: "CHAT_KAFKA_SASL_MECHANISM needs TLS"},
		{name: "scram without a password", env: map[string]string{
			"CHAT_KAFKA_SASL_MECHANISM": ScramSHA512, "CHAT_KAFKA_SASL_USER": "u", "CHAT_KAFKA_TLS": "true",
		}, wantErr: "needs CHAT_KAFKA_SASL_USER and CHAT_KAFKA_SASL_PASSWORD"},
		{name: "a user without a mechanism", env: map[string]string{"CHAT_KAFKA_SASL_USER": "u", "CHAT_KAFKA_SASL_PASSWORD": "pw-9f3a"},
			wantErr: "need CHAT_KAFKA_SASL_MECHANISM"},
		{name: "an unknown mechanism", env: map[string]string{"CHAT_KAFKA_SASL_MECHANISM": "PLAIN"}, wantErr: `must be SCRAM-SHA-512 or SCRAM-SHA-256, not "PLAIN"`},
		{name: "both password settings", env: map[string]string{
			"CHAT_KAFKA_SASL_PASSWORD": "pw-9f3a", "CHAT_KAFKA_SASL_PASSWORD_FILE": pwFile,
		}, wantErr: "exclude each other"},
		{name: "a missing password file", env: map[string]string{"CHAT_KAFKA_SASL_PASSWORD_FILE": filepath.Join(dir, "nope")},
			wantErr: "CHAT_KAFKA_SASL_PASSWORD_FILE: open"},
		{name: "a TLS flag that is not one", env: map[string]string{"CHAT_KAFKA_TLS": "sure"}, wantErr: `CHAT_KAFKA_TLS: "sure" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := load(t, tt.env, tt.wantErr)
			if ok && c.KafkaAuth != tt.want {
				t.Fatalf("KafkaAuth = %+v, want %+v", c.KafkaAuth, tt.want)
			}
		})
	}
}

// TestSecretNeverPrinted: every way the configuration may reach a log line
// or an error shows "[redacted]", never the password.
func TestSecretNeverPrinted(t *testing.T) {
	const pw = "hunter2-hunter2"
	c := Config{KafkaAuth: KafkaAuth{Mechanism: ScramSHA512, User: "u", Password: pw}}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "kafka", c.KafkaAuth, "password", c.KafkaAuth.Password)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "kafka", c.KafkaAuth, "password", c.KafkaAuth.Password)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"Sprint": fmt.Sprint(c.KafkaAuth.Password), "%q": fmt.Sprintf("%q", c.KafkaAuth.Password),
		"slog": logged.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, pw) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s shows %q", how, out)
		}
	}
	if c.KafkaAuth.Password.Reveal() != pw {
		t.Errorf("Reveal() = %q", c.KafkaAuth.Password.Reveal())
	}
}
