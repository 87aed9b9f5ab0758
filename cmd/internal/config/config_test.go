package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.HTTPAddr != DefaultHTTPAddr || c.InternalAddr != "127.0.0.1:9080" || c.Capacity != 20 || c.RoomParts != 12 || len(c.KafkaBrokers) != 0 {
				t.Fatalf("%+v", c)
			}
			if c.EffectWords["congrats"] != "balloons" {
				t.Fatalf("default effects: %v", c.EffectWords)
			}
		}},
		{name: "lists and pairs", env: map[string]string{
			"KAFKA_BROKERS": " a:1, b:2 ,", "CHAT_PROFANITY_WORDS": "heck, darn",
			"CHAT_EFFECT_WORDS": "congrats=balloons, happy birthday=confetti",
		}, check: func(t *testing.T, c Config) {
			if strings.Join(c.KafkaBrokers, "|") != "a:1|b:2" || strings.Join(c.ProfanityWords, "|") != "heck|darn" {
				t.Fatalf("%v %v", c.KafkaBrokers, c.ProfanityWords)
			}
			if c.EffectWords["happy birthday"] != "confetti" || len(c.EffectWords) != 2 {
				t.Fatalf("%v", c.EffectWords)
			}
		}},
		{name: "effects off", env: map[string]string{"CHAT_EFFECT_WORDS": "-"}, check: func(t *testing.T, c Config) {
			if len(c.EffectWords) != 0 {
				t.Fatalf("%v", c.EffectWords)
			}
		}},
		{name: "bad integer", env: map[string]string{"CHAT_ROOM_CAPACITY": "twenty"}, wantErr: "CHAT_ROOM_CAPACITY"},
		{name: "capacity out of range", env: map[string]string{"CHAT_ROOM_CAPACITY": "0"}, wantErr: "CHAT_ROOM_CAPACITY"},
		{name: "bad pair", env: map[string]string{"CHAT_EFFECT_WORDS": "congrats"}, wantErr: "word=effect"},
		{name: "bad duration", env: map[string]string{"CHAT_TOKEN_TTL": "forever"}, wantErr: "CHAT_TOKEN_TTL"},
		{name: "clickhouse flush default", env: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.CHFlush != 200*time.Millisecond {
				t.Fatalf("CHAT_CLICKHOUSE_FLUSH_INTERVAL default %v, want 200ms", c.CHFlush)
			}
		}},
		{name: "clickhouse flush too short", env: map[string]string{"CHAT_CLICKHOUSE_FLUSH_INTERVAL": "1ms"}, wantErr: "CHAT_CLICKHOUSE_FLUSH_INTERVAL must be between 10ms and 1m"},
		{name: "too many partitions", env: map[string]string{"CHAT_ROOM_PARTITIONS": "513"}, wantErr: "CHAT_ROOM_PARTITIONS"},
		{name: "instance id range", env: map[string]string{"CHAT_INSTANCE_ID": "512"}, wantErr: "CHAT_INSTANCE_ID"},
		{name: "short admin token", env: map[string]string{"CHAT_ADMIN_TOKEN": "change-me"}, wantErr: "CHAT_ADMIN_TOKEN must be at least 32 characters (it has 9)"},
		{name: "short previous token secret", env: map[string]string{"CHAT_TOKEN_PREVIOUS_SECRETS": "0123456789abcdef0123,short"}, wantErr: "CHAT_TOKEN_PREVIOUS_SECRETS: each must be at least 16 bytes"},
		{name: "read bounds", env: map[string]string{"CHAT_ANALYTICS_CONCURRENCY": "2", "CHAT_EXPORT_CONCURRENCY": "3", "CHAT_ANALYTICS_MAX_ROWS": "1000"}, check: func(t *testing.T, c Config) {
			if c.AnalyticsConcurrency != 2 || c.ExportConcurrency != 3 || c.AnalyticsMaxRows != 1000 || c.AnalyticsMaxBytes != 8<<30 {
				t.Fatalf("%+v", c)
			}
		}},
		{name: "no analytics slots", env: map[string]string{"CHAT_ANALYTICS_CONCURRENCY": "0"}, wantErr: "CHAT_ANALYTICS_CONCURRENCY"},
		{name: "no export slots", env: map[string]string{"CHAT_EXPORT_CONCURRENCY": "-1"}, wantErr: "CHAT_EXPORT_CONCURRENCY"},
		{name: "clock offset (test-only)", env: map[string]string{"CHAT_CLOCK_OFFSET": "-5s"}, check: func(t *testing.T, c Config) {
			if c.ClockOffset != -5*time.Second {
				t.Fatalf("ClockOffset %v", c.ClockOffset)
			}
		}},
		{name: "clock offset out of range", env: map[string]string{"CHAT_CLOCK_OFFSET": "-2h"}, wantErr: "CHAT_CLOCK_OFFSET"},
		{name: "internal listener: loopback, public port + 1000", env: map[string]string{"CHAT_HTTP_ADDR": "0.0.0.0:8085"}, check: func(t *testing.T, c Config) {
			if c.InternalAddr != "127.0.0.1:9085" {
				t.Fatalf("InternalAddr %q", c.InternalAddr)
			}
		}},
		{name: "internal listener: an ephemeral public port gives an ephemeral one", env: map[string]string{"CHAT_HTTP_ADDR": "127.0.0.1:0"}, check: func(t *testing.T, c Config) {
			if c.InternalAddr != "127.0.0.1:0" {
				t.Fatalf("InternalAddr %q", c.InternalAddr)
			}
		}},
		{name: "internal listener: explicit", env: map[string]string{"CHAT_INTERNAL_ADDR": "10.0.0.5:7000"}, check: func(t *testing.T, c Config) {
			if c.InternalAddr != "10.0.0.5:7000" {
				t.Fatalf("InternalAddr %q", c.InternalAddr)
			}
		}},
		{name: "internal listener: no port above the public one", env: map[string]string{"CHAT_HTTP_ADDR": "127.0.0.1:65000"}, wantErr: "set CHAT_INTERNAL_ADDR"},
		{name: "internal listener: not the public one", env: map[string]string{"CHAT_HTTP_ADDR": "127.0.0.1:8080", "CHAT_INTERNAL_ADDR": "127.0.0.1:8080"}, wantErr: "CHAT_INTERNAL_ADDR must be set and differ"},
		{name: "several errors at once", env: map[string]string{"CHAT_ROOM_CAPACITY": "x", "CHAT_SEND_RATE": "y"}, wantErr: "CHAT_SEND_RATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, ok := load(t, tt.env, tt.wantErr); ok {
				tt.check(t, c)
			}
		})
	}
}

// load runs Load on env. With wantErr it checks that Load fails with an
// error that mentions it, and returns false; otherwise it
// fails the test on an error.
func load(t *testing.T, env map[string]string, wantErr string) (Config, bool) {
	t.Helper()
	c, err := Load(func(k string) string { return env[k] })
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want it to mention %q", err, wantErr)
		}
		if pw := env["CHAT_KAFKA_SASL_PASSWORD"]; pw != "" && strings.Contains(err.Error(), pw) {
			t.Fatalf("the error shows the password: %v", err)
		}
		return c, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, true
}

func TestWebAuthnSettings(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name    string
		env     map[string]string
		origins []string
		wantErr string
	}{
		{"dev default: localhost on the HTTP port", map[string]string{}, []string{"http://localhost:8080"}, ""},
		{"the port follows CHAT_HTTP_ADDR", map[string]string{"CHAT_HTTP_ADDR": "0.0.0.0:9000"}, []string{"http://localhost:9000"}, ""},
		{"an ephemeral port has no default", map[string]string{"CHAT_HTTP_ADDR": "127.0.0.1:0", "CHAT_INTERNAL_ADDR": "127.0.0.1:0"}, nil, ""},
		{"a domain without origins: passkeys off", map[string]string{"CHAT_WEBAUTHN_RP_ID": "chat.example.com"}, nil, ""},
		{"a domain and its origin", map[string]string{"CHAT_WEBAUTHN_RP_ID": "chat.example.com", "CHAT_WEBAUTHN_ORIGINS": "https://chat.example.com"},
			[]string{"https://chat.example.com"}, ""},
		{"an IP address is no RP ID", map[string]string{"CHAT_WEBAUTHN_RP_ID": "127.0.0.1"}, nil, "CHAT_WEBAUTHN_RP_ID"},
		{"a scheme is no RP ID", map[string]string{"CHAT_WEBAUTHN_RP_ID": "https://chat.example.com"}, nil, "CHAT_WEBAUTHN_RP_ID"},
		{"plain http off localhost", map[string]string{"CHAT_WEBAUTHN_RP_ID": "chat.example.com", "CHAT_WEBAUTHN_ORIGINS": "http://chat.example.com"}, nil, "CHAT_WEBAUTHN_ORIGINS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.WebAuthnOrigins, tt.origins) {
				t.Fatalf("origins %v, want %v", c.WebAuthnOrigins, tt.origins)
			}
		})
	}
}
